import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import RA

// Updates: the running version, the update address, a check of the signed manifest with
// its release notes, install (checked, swapped atomically, undone if the new version does
// not start) and going back to the previous version.
Item {
    id: root
    required property Launcher launcher
    readonly property var info: launcher.updatesJson.length > 0 ? JSON.parse(launcher.updatesJson)
                                                                : {running: "", url: "", view: {state: "idle"}, busy: false, errorText: "", hasPrevious: false, installation: null}
    readonly property var view: info.view

    function t(id) { return launcher.tr(id, launcher.locale) }
    function ta(id, args) { return launcher.tra(id, JSON.stringify(args), launcher.locale) }

    Card {
        anchors.fill: parent
        anchors.margins: 12
        ColumnLayout {
            anchors.fill: parent
            anchors.margins: 16
            spacing: 10

            Label {
                objectName: "runningVersion"
                text: root.ta("updates-running", {version: root.info.running})
                font.bold: true
                font.pixelSize: Theme.fontSize * 1.2
                color: Theme.text
            }
            Label {
                visible: !!root.info.installation
                text: root.ta("updates-installed-at", {path: root.info.installation || ""})
                color: Theme.muted
            }
            RowLayout {
                Layout.fillWidth: true
                Label { text: root.t("updates-url"); color: Theme.text }
                TextField {
                    id: url
                    objectName: "updateUrl"
                    Layout.fillWidth: true
                    text: root.info.url
                    placeholderText: root.t("updates-url-placeholder")
                }
                Button {
                    objectName: "checkUpdates"
                    enabled: !root.info.busy
                    text: root.info.busy ? root.t("updates-working") : root.t("updates-check")
                    onClicked: root.launcher.checkUpdates(url.text)
                }
            }
            Label {
                Layout.fillWidth: true
                text: root.t("updates-signed")
                wrapMode: Text.Wrap
                color: Theme.muted
            }
            Label {
                objectName: "updateState"
                Layout.fillWidth: true
                wrapMode: Text.Wrap
                color: Theme.text
                text: root.view.state === "up-to-date" ? root.ta("updates-up-to-date", {version: root.view.version})
                    : root.view.state === "available" ? root.ta("updates-available", {version: root.view.version})
                    : root.view.state === "installed" ? root.ta("updates-installed", {version: root.view.version, previous: root.view.previous})
                    : root.view.state === "rolled-back" ? root.ta("updates-rolled-back", {version: root.view.version})
                    : root.t("updates-idle")
            }
            Label {
                objectName: "updateError"
                Layout.fillWidth: true
                visible: root.info.errorText.length > 0
                text: root.info.errorText
                wrapMode: Text.Wrap
                color: Theme.danger
            }
            Label {
                visible: root.view.state === "available" && root.view.notes.length > 0
                text: root.t("updates-notes")
                font.bold: true
                color: Theme.text
            }
            ScrollView {
                Layout.fillWidth: true
                Layout.preferredHeight: 160
                visible: root.view.state === "available" && root.view.notes.length > 0
                TextArea {
                    readOnly: true
                    wrapMode: TextArea.Wrap
                    text: root.view.state === "available" ? root.view.notes : ""
                }
            }
            RowLayout {
                Button {
                    objectName: "installUpdate"
                    visible: root.view.state === "available"
                    enabled: !root.info.busy
                    highlighted: true
                    text: root.ta("updates-install", {version: root.view.version || ""})
                    onClicked: root.launcher.installUpdate()
                }
                Button {
                    objectName: "rollbackUpdate"
                    visible: root.info.hasPrevious
                    enabled: !root.info.busy
                    text: root.t("updates-rollback")
                    onClicked: root.launcher.rollbackUpdate()
                }
            }
            Item { Layout.fillHeight: true }
        }
    }
}
