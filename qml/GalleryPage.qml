import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import RA

// The history as thumbnails, newest first; the selected image with its infotext,
// "reuse parameters", "open folder" and "delete".
Item {
    id: root
    required property Launcher launcher
    readonly property var items: JSON.parse(launcher.galleryJson)
    property int selected: 0
    readonly property var current: items.length > selected ? items[selected] : null
    signal reused()

    function t(id) { return launcher.tr(id, launcher.locale) }

    onItemsChanged: if (selected >= items.length) selected = 0

    RowLayout {
        anchors.fill: parent
        anchors.margins: 12
        spacing: 12

        Card {
            Layout.fillWidth: true
            Layout.fillHeight: true
            GridView {
                id: grid
                objectName: "galleryGrid"
                anchors.fill: parent
                anchors.margins: 8
                clip: true
                cellWidth: 136
                cellHeight: 136
                model: root.items
                delegate: Rectangle {
                    required property var modelData
                    required property int index
                    width: 128
                    height: 128
                    radius: Theme.radiusSmall
                    color: "transparent"
                    border.width: index === root.selected ? 3 : 1
                    border.color: index === root.selected ? Theme.accent : Theme.border
                    Image {
                        anchors.fill: parent
                        anchors.margins: 4
                        fillMode: Image.PreserveAspectFit
                        asynchronous: true
                        sourceSize: Qt.size(256, 256)
                        source: root.launcher.fileUrl(parent.modelData.path)
                    }
                    MouseArea { anchors.fill: parent; onClicked: root.selected = parent.index }
                }
            }
            Label {
                anchors.centerIn: parent
                visible: root.items.length === 0
                text: root.t("gallery-empty")
                color: Theme.muted
            }
        }

        ColumnLayout {
            Layout.preferredWidth: 360
            Layout.maximumWidth: 360
            Layout.fillHeight: true
            spacing: 8
            Image {
                objectName: "galleryImage"
                Layout.fillWidth: true
                Layout.preferredHeight: 300
                fillMode: Image.PreserveAspectFit
                asynchronous: true
                source: root.current ? root.launcher.fileUrl(root.current.path) : ""
            }
            ScrollView {
                Layout.fillWidth: true
                Layout.fillHeight: true
                contentWidth: availableWidth
                TextArea {
                    objectName: "galleryInfotext"
                    readOnly: true
                    wrapMode: TextArea.Wrap
                    text: root.current ? root.current.infotext : ""
                }
            }
            RowLayout {
                Layout.fillWidth: true
                enabled: root.current !== null
                Button {
                    objectName: "reuseButton"
                    text: root.t("reuse-parameters")
                    onClicked: {
                        root.launcher.reuse(root.current.infotext)
                        root.reused()
                    }
                }
                Button {
                    objectName: "openFolderButton"
                    text: root.t("open-folder")
                    onClicked: Qt.openUrlExternally(root.launcher.folderUrl(root.current.path))
                }
                Button {
                    objectName: "deleteButton"
                    text: root.t("delete")
                    onClicked: {
                        confirm.job = root.current.job
                        confirm.open()
                    }
                }
            }
            Button {
                text: root.t("refresh")
                onClicked: root.launcher.refreshGallery()
            }
        }
    }

    Dialog {
        id: confirm
        objectName: "confirmDelete"
        anchors.centerIn: parent
        width: 440
        modal: true
        title: root.t("delete-confirm-title")
        standardButtons: Dialog.Ok | Dialog.Cancel
        contentItem: Label {
            text: root.t("delete-confirm")
            wrapMode: Text.Wrap
        }
        // The job chosen when the dialog opened, even if new images arrived since.
        property real job: -1
        onAccepted: root.launcher.deleteJob(job)
    }
}
