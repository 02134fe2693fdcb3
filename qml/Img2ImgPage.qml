import QtQuick
import QtQuick.Controls
import QtQuick.Dialogs
import QtQuick.Layouts
import RA

// img2img and inpainting: an input image (loaded or dropped), a mask painted over it,
// denoising strength, mask blur and fill mode, with the same prompts and settings as
// Generate.
Item {
    id: root
    required property Launcher launcher
    property string imagePath: ""
    readonly property var fillModes: JSON.parse(launcher.choicesJson).fillModes

    function t(id) { return launcher.tr(id, launcher.locale) }

    function form() {
        const f = params.values()
        f.prompt = prompts.prompt
        f.negative_prompt = prompts.negativePrompt
        f.init_image = imagePath
        f.denoising_strength = strength.value
        f.mask = mask.hasMask ? mask.toDataURL("image/png") : ""
        f.mask_blur = Math.round(maskBlur.value)
        f.inpainting_fill = fillModes[fillMode.currentIndex]
        return f
    }

    function generate() { launcher.generate(JSON.stringify(form())) }

    function load(url) {
        imagePath = String(url)
        mask.clear()
    }

    Connections {
        target: root.launcher
        function onImg2imgImageChanged() {
            if (root.launcher.img2imgImage.length > 0)
                root.load(root.launcher.img2imgImage)
        }
    }

    RowLayout {
        anchors.fill: parent
        anchors.margins: 12
        spacing: 12

        ScrollView {
            Layout.preferredWidth: 340
            Layout.fillHeight: true
            contentWidth: availableWidth
            ColumnLayout {
                width: parent.width
                spacing: 10
                PromptPanel {
                    id: prompts
                    launcher: root.launcher
                    Layout.fillWidth: true
                }
                GridLayout {
                    Layout.fillWidth: true
                    columns: 2
                    Label { text: root.t("denoising-strength"); color: Theme.text }
                    RowLayout {
                        Layout.fillWidth: true
                        Slider {
                            id: strength
                            objectName: "strength"
                            Layout.fillWidth: true
                            from: 0
                            to: 1
                            stepSize: 0.01
                            value: 0.75
                        }
                        Label { text: strength.value.toFixed(2); color: Theme.text }
                    }
                    Label { text: root.t("mask-blur"); color: Theme.text }
                    RowLayout {
                        Layout.fillWidth: true
                        Slider {
                            id: maskBlur
                            objectName: "maskBlur"
                            Layout.fillWidth: true
                            from: 0
                            to: 64
                            stepSize: 1
                            value: 4
                        }
                        Label { text: Math.round(maskBlur.value); color: Theme.text }
                    }
                    Label { text: root.t("fill-mode"); color: Theme.text }
                    ComboBox {
                        id: fillMode
                        objectName: "fillMode"
                        Layout.fillWidth: true
                        // In the order of the launcher's fillModes.
                        model: [root.t("fill-fill"), root.t("fill-original"),
                                root.t("fill-latent-noise"), root.t("fill-latent-nothing")]
                        currentIndex: 1
                    }
                }
                ParamsPanel {
                    id: params
                    launcher: root.launcher
                    Layout.fillWidth: true
                }
            }
        }

        ColumnLayout {
            Layout.fillWidth: true
            Layout.fillHeight: true
            RowLayout {
                Layout.fillWidth: true
                Button {
                    objectName: "loadImage"
                    text: root.t("load-image")
                    onClicked: openDialog.open()
                }
                Label { text: root.t("brush-size"); color: Theme.text }
                Slider {
                    id: brush
                    objectName: "brushSize"
                    Layout.fillWidth: true
                    from: 4
                    to: 128
                    value: 32
                }
            }
            RowLayout {
                Layout.fillWidth: true
                Button {
                    objectName: "eraser"
                    text: root.t("eraser")
                    checkable: true
                    checked: mask.eraser
                    onToggled: mask.eraser = checked
                }
                Button {
                    objectName: "clearMask"
                    text: root.t("clear-mask")
                    onClicked: mask.clear()
                }
                Button {
                    objectName: "invertMask"
                    text: root.t("invert-mask")
                    onClicked: mask.invert()
                }
            }
            Card {
                Layout.fillWidth: true
                Layout.fillHeight: true
                Image {
                    id: input
                    objectName: "inputImage"
                    anchors.fill: parent
                    anchors.margins: 8
                    fillMode: Image.PreserveAspectFit
                    source: root.launcher.fileUrl(root.imagePath)
                }
                MaskCanvas {
                    id: mask
                    objectName: "mask"
                    visible: input.status === Image.Ready
                    brushSize: brush.value
                    x: input.x + (input.width - input.paintedWidth) / 2
                    y: input.y + (input.height - input.paintedHeight) / 2
                    width: Math.max(1, input.paintedWidth)
                    height: Math.max(1, input.paintedHeight)
                }
                Label {
                    objectName: "imageHint"
                    anchors.centerIn: parent
                    width: parent.width - 32
                    horizontalAlignment: Text.AlignHCenter
                    wrapMode: Text.Wrap
                    visible: input.status !== Image.Ready
                    text: input.status === Image.Error
                          ? root.launcher.tra("image-unreadable", JSON.stringify(
                                {path: root.imagePath, detail: input.source}), root.launcher.locale)
                          : root.t("drop-image")
                    color: input.status === Image.Error ? Theme.danger : Theme.muted
                }
                DropArea {
                    anchors.fill: parent
                    onDropped: function(drop) {
                        if (drop.hasUrls)
                            root.load(drop.urls[0])
                    }
                }
            }
        }

        ResultPanel {
            launcher: root.launcher
            Layout.preferredWidth: 260
            Layout.fillHeight: true
            onGenerate: root.generate()
        }
    }

    FileDialog {
        id: openDialog
        nameFilters: [root.t("image-files") + " (*.png *.jpg *.jpeg *.webp *.bmp)"]
        onAccepted: root.load(selectedFile)
    }
}
