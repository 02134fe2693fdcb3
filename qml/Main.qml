import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import RA

ApplicationWindow {
    id: window
    width: 1100
    height: 720
    visible: true
    title: launcher.tr("app-title", launcher.locale)

    Launcher {
        id: launcher
        Component.onCompleted: launcher.start()
    }

    readonly property var theme: JSON.parse(launcher.skinJson)

    color: theme.palette.window
    font.family: theme.fonts.family
    font.pixelSize: theme.fonts.size

    Rectangle {
        id: page
        anchors.fill: parent
        color: theme.palette.window

    ColumnLayout {
        anchors.fill: parent
        spacing: 0

        Rectangle {
            Layout.fillWidth: true
            Layout.preferredHeight: 48
            color: theme.palette.surface
            border.color: theme.palette.border
            RowLayout {
                anchors.fill: parent
                anchors.margins: 12
                Label {
                    text: launcher.tr("nav-generate", launcher.locale)
                    color: theme.palette.text
                    font.bold: true
                }
                Item { Layout.fillWidth: true }
                Label {
                    objectName: "daemonState"
                    text: launcher.daemonText
                    color: launcher.daemonReady ? theme.palette.muted : theme.palette.danger
                }
            }
        }

        Item {
            Layout.fillWidth: true
            Layout.fillHeight: true
            Label {
                objectName: "skinNotice"
                visible: launcher.skinNotice.length > 0
                text: launcher.skinNotice
                color: theme.palette.danger
                anchors.bottom: parent.bottom
                anchors.left: parent.left
                anchors.margins: 12
            }
        }
    }

    }

    // Screenshot mode: photograph the window in this language, then in the other, then
    // quit. Each grab finishes before the language changes.
    Timer {
        property int shots: 0
        property bool busy: false
        interval: 300
        repeat: true
        running: launcher.screenshotDir.length > 0 && launcher.daemonReady
        onTriggered: {
            if (busy)
                return
            if (shots === 2) {
                Qt.quit()
                return
            }
            busy = true
            const file = launcher.screenshotDir + "/main-" + launcher.locale + ".png"
            page.grabToImage(function(result) {
                result.saveToFile(file)
                shots += 1
                if (shots === 1)
                    launcher.setLanguage(launcher.locale === "zh-CN" ? "en-US" : "zh-CN")
                busy = false
            })
        }
    }
}
