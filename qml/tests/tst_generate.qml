import QtQuick
import QtTest
import RA

// The Generate page against the fake daemon: submit, progress with preview, result,
// seed reuse, cancel, refusals and failures shown, the token counter, a language switch.
Item {
    id: root
    width: 1100
    height: 720

    Launcher { id: launcher }
    Binding { target: Theme; property: "skinJson"; value: launcher.skinJson }
    GeneratePage { id: page; launcher: launcher; anchors.fill: parent }

    TestCase {
        name: "Generate"
        when: windowShown

        function job() { return JSON.parse(launcher.jobJson) }
        function child(name) {
            const c = findChild(page, name)
            verify(c !== null, "no " + name)
            return c
        }
        function submit(prompt, steps) {
            child("prompt").text = prompt
            child("steps").value = steps
            tryVerify(function() { return child("generateButton").enabled }, 5000)
            mouseClick(child("generateButton"))
        }
        function waitEnd() {
            tryVerify(function() { return ["done", "failed", "cancelled"].indexOf(job().phase) >= 0 },
                      20000, "the job did not end")
        }

        function initTestCase() {
            launcher.start()
            tryCompare(launcher, "daemonReady", true, 20000)
            tryVerify(function() { return JSON.parse(launcher.modelsJson).checkpoints.length === 2 }, 10000)
        }
        function init() { launcher.setLanguage("zh-CN") }

        function test_models_are_listed_with_the_current_one() {
            const box = child("model")
            compare(box.count, 2)
            compare(box.currentText, "tiny.safetensors [0000000001]")
        }

        function test_submit_shows_progress_preview_and_the_result() {
            submit("a lighthouse at dusk", 4)
            tryVerify(function() { return child("progressBar").value >= 1 }, 10000)
            compare(child("progressBar").to, 4)
            verify(child("preview").source.toString().startsWith("data:image/png;base64,"))
            verify(child("progressText").text.indexOf("/ 4") > 0, child("progressText").text)
            verify(!child("generateButton").enabled)
            verify(child("cancelButton").enabled)
            waitEnd()
            compare(job().phase, "done")
            tryCompare(child("resultImage"), "status", Image.Ready, 5000)
            compare(child("progressText").text, launcher.tr("progress-done", launcher.locale))
            // "Reuse last" takes the finished image's seed.
            tryVerify(function() { return child("seedReuse").enabled }, 5000)
            mouseClick(child("seedReuse"))
            compare(child("seed").text, String(job().seeds[0]))
            mouseClick(child("seedRandom"))
            compare(child("seed").text, "-1")
        }

        function test_cancel_stops_a_running_job() {
            submit("a slow lighthouse", 30)
            tryVerify(function() { return job().phase === "running" }, 10000)
            mouseClick(child("cancelButton"))
            waitEnd()
            compare(job().phase, "cancelled")
            compare(child("progressText").text, launcher.tr("progress-cancelled", launcher.locale))
            verify(child("generateButton").enabled)
        }

        function test_refusals_and_failures_are_shown_in_the_current_language() {
            submit("please refuse this", 2)
            waitEnd()
            const error = child("jobError")
            verify(error.visible)
            verify(error.text.indexOf("参数有误") >= 0, error.text)
            verify(error.text.indexOf("fake daemon refuses") >= 0, error.text)
            // The message follows a language switch.
            launcher.setLanguage("en-US")
            verify(error.text.indexOf("A setting is not valid") >= 0, error.text)
            launcher.setLanguage("zh-CN")

            submit("this will fail", 2)
            waitEnd()
            verify(error.text.indexOf("生成失败") >= 0, error.text)
            verify(error.text.indexOf("out of memory (fake)") >= 0, error.text)

            // A form problem is caught before the daemon sees it.
            submit("   ", 2)
            waitEnd()
            compare(error.text, launcher.tr("form-prompt-empty", launcher.locale))
        }

        function test_the_token_counter_counts_like_a1111() {
            child("prompt").text = "a photo of a cat"
            compare(child("promptTokens").text, "5/75")
            child("prompt").text = ""
            compare(child("promptTokens").text, "0/75")
        }

        function test_switching_language_rerenders_the_page() {
            compare(child("generateButton").text, "生成")
            launcher.setLanguage("en-US")
            compare(child("generateButton").text, "Generate")
            compare(child("cancelButton").text, "Cancel")
            launcher.setLanguage("zh-CN")
            compare(child("generateButton").text, "生成")
        }

        function test_reused_parameters_fill_the_page() {
            launcher.reuse("a red fox\nNegative prompt: blurry\nSteps: 28, Sampler: DPM++ 2M Karras, CFG scale: 6.5, Seed: 31415, Size: 512x768")
            compare(child("prompt").text, "a red fox")
            compare(child("negativePrompt").text, "blurry")
            compare(child("steps").value, 28)
            compare(child("sampler").currentText, "DPM++ 2M")
            compare(child("scheduleType").currentText, "Karras")
            compare(child("seed").text, "31415")
            compare(child("height").value, 768)
            verify(!child("advanced").checked)
        }

        function test_a1111_seed_settings_are_reused_and_sent() {
            launcher.reuse("a red fox\nSteps: 4, Sampler: Euler a, CFG scale: 7, Seed: 5, Size: 512x512, Variation seed: 9, Variation seed strength: 0.25, Clip skip: 2, RNG: CPU, Hires upscale: 1.5, Hires upscaler: Lanczos")
            verify(child("advanced").checked)
            compare(child("rng").currentText, "CPU")
            compare(child("clipSkip").value, 2)
            compare(child("subseed").text, "9")
            compare(child("hiresScale").value, 1.5)
            compare(child("hiresUpscaler").currentText, "Lanczos")
            verify(child("hires").checked)
            submit("a red fox", 4)
            waitEnd()
            compare(job().phase, "done")
            tryVerify(function() { return job().infotexts.length > 0 }, 5000)
            const text = job().infotexts[0]
            verify(text.indexOf("RNG: CPU") >= 0 && text.indexOf("Hires upscale: 1.5") >= 0, text)
            child("hires").checked = false
            child("rng").currentIndex = 0
            child("clipSkip").value = 1
            child("subseedStrength").value = 0
            child("advanced").checked = false
        }
    }
}
