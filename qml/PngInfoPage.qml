import QtQuick
import QtQuick.Controls
import QtQuick.Dialogs
import QtQuick.Layouts
import RA

// Drop any PNG (RA's or A1111's) to read how it was made, and send that to Generate.
Item {
    id: root
    required property Launcher launcher
    property var info: ({})
    signal sent()

    function t(id) { return launcher.tr(id, launcher.locale) }

    function open(url) { info = JSON.parse(launcher.readPngInfo(String(url))) }

    RowLayout {
        anchors.fill: parent
        anchors.margins: 12
        spacing: 12

        Card {
            Layout.fillWidth: true
            Layout.fillHeight: true
            Image {
                id: picture
                anchors.fill: parent
                anchors.margins: 8
                fillMode: Image.PreserveAspectFit
                source: root.info.path ? root.launcher.fileUrl(root.info.path) : ""
            }
            Label {
                anchors.centerIn: parent
                visible: picture.status !== Image.Ready
                text: root.t("pnginfo-drop")
                color: Theme.muted
            }
            DropArea {
                anchors.fill: parent
                onDropped: function(drop) {
                    if (drop.hasUrls)
                        root.open(drop.urls[0])
                }
            }
        }

        ColumnLayout {
            Layout.preferredWidth: 420
            Layout.maximumWidth: 420
            Layout.fillHeight: true
            Button {
                objectName: "openPng"
                text: root.t("open-png")
                onClicked: dialog.open()
            }
            Label {
                objectName: "pngError"
                Layout.fillWidth: true
                wrapMode: Text.Wrap
                color: Theme.danger
                text: root.info.error || ""
                visible: text.length > 0
            }
            ScrollView {
                Layout.fillWidth: true
                Layout.fillHeight: true
                contentWidth: availableWidth
                TextArea {
                    objectName: "pngParameters"
                    readOnly: true
                    wrapMode: TextArea.Wrap
                    text: root.info.parameters || ""
                }
            }
            Button {
                objectName: "sendToGenerate"
                text: root.t("send-to-generate")
                enabled: root.info.form !== undefined && root.info.form !== null
                onClicked: {
                    root.launcher.reuse(root.info.parameters)
                    root.sent()
                }
            }
        }
    }

    FileDialog {
        id: dialog
        nameFilters: ["PNG (*.png)"]
        onAccepted: root.open(selectedFile)
    }
}
