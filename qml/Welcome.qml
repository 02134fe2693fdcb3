import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import RA

// First run: what a model is, the model folders found, and what to do without one.
Rectangle {
    id: root
    required property Launcher launcher
    readonly property var folders: JSON.parse(launcher.foldersJson)
    readonly property int checkpoints: folders.reduce((n, f) => n + f.checkpoints, 0)
    signal openSettings()
    color: "#80000000"

    function t(id) { return launcher.tr(id, launcher.locale) }

    MouseArea { anchors.fill: parent }  // keeps clicks off the page behind

    Card {
        anchors.centerIn: parent
        width: Math.min(parent.width - 80, 640)
        height: content.implicitHeight + 48
        ColumnLayout {
            id: content
            anchors.fill: parent
            anchors.margins: 24
            spacing: 12
            Label {
                text: root.t("welcome-title")
                color: Theme.text
                font.pixelSize: Theme.fontSize * 1.6
                font.bold: true
            }
            Label {
                Layout.fillWidth: true
                wrapMode: Text.Wrap
                color: Theme.text
                text: root.t("welcome-model")
            }
            Label { text: root.t("welcome-found"); color: Theme.text; font.bold: true }
            Repeater {
                model: root.folders
                FolderLine {
                    launcher: root.launcher
                    color: Theme.muted
                }
            }
            Label {
                objectName: "welcomeNoModel"
                Layout.fillWidth: true
                wrapMode: Text.Wrap
                visible: root.checkpoints === 0
                color: Theme.danger
                text: root.launcher.tra("welcome-none", JSON.stringify({
                    path: root.folders.length > 0 ? root.folders[0].path + "/Stable-diffusion" : ""}),
                    root.launcher.locale)
            }
            RowLayout {
                Layout.alignment: Qt.AlignRight
                Button {
                    text: root.t("welcome-settings")
                    onClicked: {
                        root.launcher.closeWelcome()
                        root.openSettings()
                    }
                }
                Button {
                    objectName: "welcomeStart"
                    text: root.t("welcome-start")
                    highlighted: true
                    onClicked: root.launcher.closeWelcome()
                }
            }
        }
    }
}
