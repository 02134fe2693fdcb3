import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import RA

// Model, sampler, schedule, steps, CFG, seed, size and count: the settings both the
// Generate and the img2img page send.
GridLayout {
    id: root
    required property Launcher launcher
    readonly property var choices: JSON.parse(launcher.choicesJson)
    readonly property var models: JSON.parse(launcher.modelsJson)
    readonly property var job: launcher.jobJson.length > 0 ? JSON.parse(launcher.jobJson) : ({})
    property alias steps: stepsBox.value
    property alias widthValue: widthBox.value
    property alias heightValue: heightBox.value
    property alias count: countBox.value
    property alias seedText: seedField.text
    property real cfgScale: 7
    /// Hires fix is for txt2img: the Generate page shows it, img2img does not.
    property bool showHires: false
    columns: 2
    columnSpacing: 8
    rowSpacing: 6

    function t(id) { return launcher.tr(id, launcher.locale) }

    /// The fields as the launcher's form JSON expects them.
    function values() {
        return {
            model: modelBox.currentIndex >= 0 ? modelBox.currentText : "",
            sampler: samplerBox.currentText,
            schedule_type: scheduleBox.currentText,
            steps: stepsBox.value,
            cfg_scale: root.cfgScale,
            seed: seedField.text.length > 0 ? Number(seedField.text) : -1,
            width: widthBox.value,
            height: heightBox.value,
            count: countBox.value,
            rng: rngBox.currentText,
            clip_skip: clipSkipBox.value,
            subseed: subseedField.text.length > 0 ? Number(subseedField.text) : -1,
            subseed_strength: subseedStrength.value,
            enable_hr: root.showHires && hiresBox.checked,
            hr_scale: hiresScale.value,
            hr_upscaler: hiresUpscaler.currentText,
            hr_denoising: hiresStrength.value
        }
    }

    /// Fills the fields from a form (reuse parameters, send to Generate).
    function fill(f) {
        const pick = function(box, value) {
            const i = box.find(value)
            if (i >= 0)
                box.currentIndex = i
        }
        pick(samplerBox, f.sampler)
        pick(scheduleBox, f.schedule_type)
        if (f.model)
            pick(modelBox, f.model)
        stepsBox.value = f.steps
        root.cfgScale = f.cfg_scale
        seedField.text = String(f.seed)
        widthBox.value = f.width
        heightBox.value = f.height
        // The A1111 seed settings, when the form carries them.
        if (f.clip_skip === undefined)
            return
        pick(rngBox, f.rng)
        clipSkipBox.value = f.clip_skip
        subseedField.text = String(f.subseed)
        subseedStrength.value = f.subseed_strength
        hiresBox.checked = f.enable_hr
        hiresScale.value = f.hr_scale
        pick(hiresUpscaler, f.hr_upscaler)
        hiresStrength.value = f.hr_denoising
        // A pasted A1111 image that used these settings shows them.
        if (f.rng !== "GPU" || f.clip_skip > 1 || f.subseed_strength > 0 || f.enable_hr)
            advanced.checked = true
    }

    Label { text: root.t("model"); color: Theme.text }
    ComboBox {
        id: modelBox
        objectName: "model"
        Layout.fillWidth: true
        model: root.models.checkpoints
        currentIndex: root.models.checkpoints.indexOf(root.models.current)
        displayText: currentIndex >= 0 ? currentText : root.t("model-none")
        onActivated: root.launcher.switchModel(currentText)
    }

    Label { text: root.t("sampler"); color: Theme.text }
    ComboBox {
        id: samplerBox
        objectName: "sampler"
        Layout.fillWidth: true
        model: root.choices.samplers
        currentIndex: 1
    }

    Label { text: root.t("schedule-type"); color: Theme.text }
    ComboBox {
        id: scheduleBox
        objectName: "scheduleType"
        Layout.fillWidth: true
        model: root.choices.schedules
    }

    Label { text: root.t("steps"); color: Theme.text }
    SpinBox {
        id: stepsBox
        objectName: "steps"
        Layout.fillWidth: true
        from: 1
        to: 150
        value: 20
        editable: true
    }

    Label { text: root.t("cfg-scale"); color: Theme.text }
    RowLayout {
        Layout.fillWidth: true
        Slider {
            id: cfgSlider
            objectName: "cfgScale"
            Layout.fillWidth: true
            from: 1
            to: 30
            stepSize: 0.5
            value: root.cfgScale
            onMoved: root.cfgScale = value
        }
        Label { text: root.cfgScale.toFixed(1); color: Theme.text }
    }

    Label { text: root.t("seed"); color: Theme.text }
    RowLayout {
        Layout.fillWidth: true
        TextField {
            id: seedField
            objectName: "seed"
            Layout.fillWidth: true
            Layout.preferredWidth: 80
            text: "-1"
            validator: RegularExpressionValidator { regularExpression: /-1|[0-9]{1,10}/ }
        }
        Button {
            objectName: "seedRandom"
            text: root.t("seed-random")
            onClicked: seedField.text = "-1"
            ToolTip.visible: hovered
            ToolTip.text: root.t("seed-random-tip")
        }
        Button {
            objectName: "seedReuse"
            text: root.t("seed-reuse")
            enabled: root.job.seeds !== undefined && root.job.seeds.length > 0
            onClicked: seedField.text = String(root.job.seeds[0])
            ToolTip.visible: hovered
            ToolTip.text: root.t("seed-reuse-tip")
        }
    }

    Label { text: root.t("size"); color: Theme.text }
    GridLayout {
        Layout.fillWidth: true
        Layout.preferredWidth: 200
        columns: 3
        columnSpacing: 4
        rowSpacing: 2
        Repeater {
            model: root.choices.sizes
            Button {
                required property var modelData
                Layout.fillWidth: true
                text: modelData.width + "×" + modelData.height
                flat: !(widthBox.value === modelData.width && heightBox.value === modelData.height)
                onClicked: {
                    widthBox.value = modelData.width
                    heightBox.value = modelData.height
                }
            }
        }
    }

    Label { text: root.t("width-height"); color: Theme.text }
    RowLayout {
        Layout.fillWidth: true
        SpinBox {
            id: widthBox
            objectName: "width"
            Layout.fillWidth: true
            Layout.preferredWidth: 100
            from: 64
            to: 2048
            stepSize: 64
            value: 512
            editable: true
        }
        Label { text: "×"; color: Theme.text }
        SpinBox {
            id: heightBox
            objectName: "height"
            Layout.fillWidth: true
            Layout.preferredWidth: 100
            from: 64
            to: 2048
            stepSize: 64
            value: 512
            editable: true
        }
    }

    Label { text: root.t("batch-count"); color: Theme.text }
    SpinBox {
        id: countBox
        objectName: "count"
        Layout.fillWidth: true
        from: 1
        to: 16
        value: 1
    }

    CheckBox {
        id: advanced
        objectName: "advanced"
        Layout.columnSpan: 2
        text: root.t("advanced")
    }

    Label { visible: advanced.checked; text: root.t("rng"); color: Theme.text }
    ComboBox {
        id: rngBox
        objectName: "rng"
        visible: advanced.checked
        Layout.fillWidth: true
        model: root.choices.rngs
        ToolTip.visible: hovered
        ToolTip.text: root.t("rng-tip")
    }

    Label { visible: advanced.checked; text: root.t("clip-skip"); color: Theme.text }
    SpinBox {
        id: clipSkipBox
        objectName: "clipSkip"
        visible: advanced.checked
        Layout.fillWidth: true
        from: 1
        to: 12
        value: 1
    }

    Label { visible: advanced.checked; text: root.t("variation-seed"); color: Theme.text }
    RowLayout {
        visible: advanced.checked
        Layout.fillWidth: true
        TextField {
            id: subseedField
            objectName: "subseed"
            Layout.fillWidth: true
            Layout.preferredWidth: 80
            text: "-1"
            validator: RegularExpressionValidator { regularExpression: /-1|[0-9]{1,10}/ }
        }
        Slider {
            id: subseedStrength
            objectName: "subseedStrength"
            Layout.fillWidth: true
            from: 0
            to: 1
            stepSize: 0.05
            value: 0
        }
        Label { text: subseedStrength.value.toFixed(2); color: Theme.text }
    }

    Label { visible: advanced.checked && root.showHires; text: root.t("hires-fix"); color: Theme.text }
    RowLayout {
        visible: advanced.checked && root.showHires
        Layout.fillWidth: true
        CheckBox { id: hiresBox; objectName: "hires" }
        Slider {
            id: hiresScale
            objectName: "hiresScale"
            enabled: hiresBox.checked
            Layout.fillWidth: true
            from: 1
            to: 4
            stepSize: 0.25
            value: 2
        }
        Label { text: "×" + hiresScale.value.toFixed(2); color: Theme.text }
        ComboBox {
            id: hiresUpscaler
            objectName: "hiresUpscaler"
            enabled: hiresBox.checked
            model: root.choices.hiresUpscalers
        }
    }

    Label { visible: advanced.checked && root.showHires; text: root.t("hires-strength"); color: Theme.text }
    RowLayout {
        visible: advanced.checked && root.showHires
        Layout.fillWidth: true
        Slider {
            id: hiresStrength
            objectName: "hiresStrength"
            enabled: hiresBox.checked
            Layout.fillWidth: true
            from: 0
            to: 1
            stepSize: 0.05
            value: 0.7
        }
        Label { text: hiresStrength.value.toFixed(2); color: Theme.text }
    }
}
