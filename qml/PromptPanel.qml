import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import RA

// Prompt and negative prompt, each with A1111's token counter.
ColumnLayout {
    id: root
    required property Launcher launcher
    property alias prompt: promptArea.text
    property alias negativePrompt: negativeArea.text
    spacing: 4

    function t(id) { return launcher.tr(id, launcher.locale) }

    RowLayout {
        Layout.fillWidth: true
        Label { text: root.t("prompt"); color: Theme.text; font.bold: true }
        Item { Layout.fillWidth: true }
        Label {
            objectName: "promptTokens"
            text: root.launcher.countTokens(promptArea.text)
            color: Theme.muted
        }
    }
    ScrollView {
        Layout.fillWidth: true
        Layout.preferredHeight: 90
        TextArea {
            id: promptArea
            objectName: "prompt"
            wrapMode: TextArea.Wrap
            placeholderText: root.t("prompt-placeholder")
        }
    }
    RowLayout {
        Layout.fillWidth: true
        Label { text: root.t("negative-prompt"); color: Theme.text; font.bold: true }
        Item { Layout.fillWidth: true }
        Label {
            objectName: "negativeTokens"
            text: root.launcher.countTokens(negativeArea.text)
            color: Theme.muted
        }
    }
    ScrollView {
        Layout.fillWidth: true
        Layout.preferredHeight: 60
        TextArea {
            id: negativeArea
            objectName: "negativePrompt"
            wrapMode: TextArea.Wrap
            placeholderText: root.t("negative-placeholder")
        }
    }
}
