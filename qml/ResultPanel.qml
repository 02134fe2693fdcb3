import QtQuick
import QtQuick.Controls
import QtQuick.Dialogs
import QtQuick.Layouts
import RA

// Generate / Cancel, the running job's progress with its live preview, and the
// finished images with "save as", "copy" and "send to img2img".
ColumnLayout {
    id: root
    required property Launcher launcher
    readonly property var job: launcher.jobJson.length > 0 ? JSON.parse(launcher.jobJson) : ({phase: "idle"})
    readonly property bool busy: job.phase === "submitting" || job.phase === "running"
    readonly property var outputs: job.outputs || []
    property int shown: 0
    readonly property string shownPath: outputs.length > shown ? outputs[shown] : ""
    signal generate()
    spacing: 8

    function t(id) { return launcher.tr(id, launcher.locale) }
    function ta(id, args) { return launcher.tra(id, JSON.stringify(args), launcher.locale) }

    onOutputsChanged: shown = 0

    RowLayout {
        Layout.fillWidth: true
        Button {
            objectName: "generateButton"
            Layout.fillWidth: true
            text: root.t("generate")
            highlighted: true
            enabled: !root.busy && root.launcher.daemonReady
            onClicked: root.generate()
        }
        Button {
            objectName: "cancelButton"
            text: root.t("cancel")
            enabled: root.busy
            onClicked: root.launcher.cancel()
        }
    }

    ProgressBar {
        objectName: "progressBar"
        Layout.fillWidth: true
        from: 0
        to: Math.max(1, root.job.total || 1)
        value: root.job.step || 0
        indeterminate: root.job.phase === "submitting"
        visible: root.busy || root.job.phase === "done"
    }
    Label {
        objectName: "progressText"
        Layout.fillWidth: true
        color: Theme.muted
        text: root.job.phase === "running"
              ? root.ta("progress-step", {step: root.job.step, total: root.job.total,
                                          eta: Math.ceil(root.job.eta_seconds)})
              : root.job.phase === "submitting" ? root.t("progress-queued")
              : root.job.phase === "cancelled" ? root.t("progress-cancelled")
              : root.job.phase === "done" ? root.t("progress-done") : ""
        visible: text.length > 0
    }
    Label {
        objectName: "jobError"
        Layout.fillWidth: true
        wrapMode: Text.Wrap
        color: Theme.danger
        text: root.job.errorText || ""
        visible: text.length > 0
    }

    Card {
        Layout.fillWidth: true
        Layout.fillHeight: true
        Layout.minimumHeight: 200
        Image {
            id: preview
            objectName: "preview"
            anchors.fill: parent
            anchors.margins: 8
            fillMode: Image.PreserveAspectFit
            smooth: false
            visible: root.busy && root.job.preview.length > 0
            source: visible ? root.job.preview : ""
        }
        Image {
            id: result
            objectName: "resultImage"
            anchors.fill: parent
            anchors.margins: 8
            fillMode: Image.PreserveAspectFit
            asynchronous: true
            visible: !root.busy && root.shownPath.length > 0
            source: visible ? root.launcher.fileUrl(root.shownPath) : ""
        }
        Label {
            anchors.centerIn: parent
            visible: !preview.visible && !result.visible
            text: root.t("result-empty")
            color: Theme.muted
        }
    }

    Row {
        spacing: 4
        visible: root.outputs.length > 1
        Repeater {
            model: root.outputs
            Image {
                required property var modelData
                required property int index
                width: 48
                height: 48
                fillMode: Image.PreserveAspectFit
                source: root.launcher.fileUrl(modelData)
                opacity: index === root.shown ? 1 : 0.5
                MouseArea { anchors.fill: parent; onClicked: root.shown = parent.index }
            }
        }
    }

    GridLayout {
        Layout.fillWidth: true
        columns: root.width > 420 ? 3 : 2
        enabled: !root.busy && root.shownPath.length > 0
        Button {
            objectName: "saveAsButton"
            text: root.t("save-as")
            onClicked: saveDialog.open()
        }
        Button {
            objectName: "copyButton"
            text: root.t("copy")
            onClicked: root.launcher.copyImage(root.shownPath)
        }
        Button {
            objectName: "sendToImg2imgButton"
            text: root.t("send-to-img2img")
            onClicked: root.launcher.sendToImg2img(root.shownPath)
        }
    }

    FileDialog {
        id: saveDialog
        fileMode: FileDialog.SaveFile
        nameFilters: ["PNG (*.png)"]
        onAccepted: root.launcher.saveImageAs(root.shownPath, selectedFile.toString())
    }
}
