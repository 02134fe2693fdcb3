import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import RA

// txt2img: prompts and settings on the left, progress and result on the right.
Item {
    id: root
    required property Launcher launcher

    function form() {
        const f = params.values()
        f.prompt = prompts.prompt
        f.negative_prompt = prompts.negativePrompt
        return f
    }

    function generate() { launcher.generate(JSON.stringify(form())) }

    /// Fills the page from a form (reuse parameters, PNG info).
    function fill(f) {
        prompts.prompt = f.prompt
        prompts.negativePrompt = f.negative_prompt
        params.fill(f)
    }

    Connections {
        target: root.launcher
        function onFormJsonChanged() {
            if (root.launcher.formJson.length > 0)
                root.fill(JSON.parse(root.launcher.formJson))
        }
    }

    RowLayout {
        anchors.fill: parent
        anchors.margins: 12
        spacing: 12

        ScrollView {
            Layout.preferredWidth: 440
            Layout.fillHeight: true
            contentWidth: availableWidth
            ColumnLayout {
                width: parent.width
                spacing: 10
                PromptPanel {
                    id: prompts
                    objectName: "prompts"
                    launcher: root.launcher
                    Layout.fillWidth: true
                }
                ParamsPanel {
                    id: params
                    objectName: "params"
                    launcher: root.launcher
                    showHires: true
                    Layout.fillWidth: true
                }
            }
        }
        ResultPanel {
            objectName: "result"
            launcher: root.launcher
            Layout.fillWidth: true
            Layout.fillHeight: true
            onGenerate: root.generate()
        }
    }
}
