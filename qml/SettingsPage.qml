import QtQuick
import QtQuick.Controls
import QtQuick.Dialogs
import QtQuick.Layouts
import RA

// Language and skin apply at once; the daemon's options (model folders, output folder,
// port, remote access) apply on Save, which restarts the daemon when they changed.
Item {
    id: root
    required property Launcher launcher
    readonly property var saved: JSON.parse(launcher.settingsJson)
    readonly property var choices: JSON.parse(launcher.choicesJson)
    readonly property var folders: JSON.parse(launcher.foldersJson)
    property string error: ""

    function t(id) { return launcher.tr(id, launcher.locale) }

    /// The settings as the form shows them.
    function edited() {
        const s = JSON.parse(JSON.stringify(saved))
        s.keep_daemon_running = keepRunning.checked
        s.output_dir = outputDir.text.length > 0 ? outputDir.text : null
        s.port = port.value
        s.remote_access = remote.checked
        s.api_token = token.text
        return s
    }

    function save() { error = launcher.saveSettings(JSON.stringify(edited())) }

    ScrollView {
        anchors.fill: parent
        anchors.margins: 12
        contentWidth: availableWidth
        GridLayout {
            width: Math.min(parent.width, 760)
            columns: 2
            columnSpacing: 12
            rowSpacing: 10

            Label { text: root.t("settings-language"); color: Theme.text }
            ComboBox {
                objectName: "languageBox"
                Layout.fillWidth: true
                model: ["中文（简体）", "English"]
                currentIndex: root.launcher.locale === "en-US" ? 1 : 0
                onActivated: function(i) { root.launcher.setLanguage(root.choices.locales[i]) }
            }

            Label { text: root.t("settings-skin"); color: Theme.text }
            ComboBox {
                objectName: "skinBox"
                Layout.fillWidth: true
                model: root.choices.skins.map(s => s[root.launcher.locale] || s.id)
                currentIndex: root.choices.skins.findIndex(s => s.id === root.launcher.skinId)
                onActivated: function(i) { root.launcher.setSkin(root.choices.skins[i].id) }
            }

            Label { text: root.t("settings-keep-running"); color: Theme.text }
            CheckBox {
                id: keepRunning
                objectName: "keepRunning"
                checked: root.saved.keep_daemon_running
                text: root.t("settings-keep-running-hint")
            }

            Label {
                text: root.t("settings-model-folders")
                color: Theme.text
                Layout.alignment: Qt.AlignTop
            }
            ColumnLayout {
                Layout.fillWidth: true
                Repeater {
                    model: root.folders
                    FolderLine {
                        launcher: root.launcher
                        color: Theme.text
                    }
                }
                Button {
                    objectName: "addFolder"
                    text: root.t("settings-add-folder")
                    onClicked: folderDialog.open()
                }
            }

            Label { text: root.t("settings-output-folder"); color: Theme.text }
            RowLayout {
                Layout.fillWidth: true
                TextField {
                    id: outputDir
                    objectName: "outputDir"
                    Layout.fillWidth: true
                    text: root.saved.output_dir || ""
                    placeholderText: root.t("settings-output-default")
                }
                Button {
                    text: root.t("settings-choose")
                    onClicked: outputDialog.open()
                }
            }

            Label { text: root.t("settings-port"); color: Theme.text }
            SpinBox {
                id: port
                objectName: "port"
                from: 1024
                to: 65535
                value: root.saved.port
                editable: true
                textFromValue: function(v) { return String(v) }
                valueFromText: function(t) { return Number(t) }
            }

            Label { text: root.t("settings-remote"); color: Theme.text }
            ColumnLayout {
                Layout.fillWidth: true
                Switch {
                    id: remote
                    objectName: "remoteAccess"
                    checked: root.saved.remote_access
                    text: root.t("settings-remote-hint")
                }
                TextField {
                    id: token
                    objectName: "apiToken"
                    Layout.fillWidth: true
                    visible: remote.checked
                    echoMode: TextInput.Password
                    text: root.saved.api_token
                    placeholderText: root.t("settings-token")
                }
            }

            Item { width: 1; height: 1 }
            RowLayout {
                Button {
                    objectName: "saveSettings"
                    text: root.t("settings-save")
                    highlighted: true
                    onClicked: root.save()
                }
                Label {
                    objectName: "settingsError"
                    Layout.fillWidth: true
                    wrapMode: Text.Wrap
                    color: Theme.danger
                    text: root.error
                }
            }
        }
    }

    FolderDialog {
        id: folderDialog
        onAccepted: root.error = root.launcher.addModelFolder(String(selectedFolder))
    }
    FolderDialog {
        id: outputDialog
        onAccepted: outputDir.text = root.launcher.localPath(String(selectedFolder))
    }
}
