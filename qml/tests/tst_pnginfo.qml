import QtQuick
import QtTest
import RA

// PNG info: A1111's parameters read and sent to Generate; bad files explained.
Item {
    id: root
    width: 1100
    height: 720

    Launcher { id: launcher }
    Binding { target: Theme; property: "skinJson"; value: launcher.skinJson }
    PngInfoPage { id: page; launcher: launcher; anchors.fill: parent }

    TestCase {
        name: "PngInfo"
        when: windowShown

        function child(name) {
            const c = findChild(page, name)
            verify(c !== null, "no " + name)
            return c
        }

        function init() { launcher.setLanguage("zh-CN") }

        function test_an_a1111_png_is_read_and_sent_to_generate() {
            page.open(Qt.resolvedUrl("data/a1111.png"))
            verify(child("pngParameters").text.startsWith("masterpiece, a red fox in snow\nNegative prompt: blurry, lowres\nSteps: 28"))
            verify(!child("pngError").visible)
            verify(child("sendToGenerate").enabled)
            mouseClick(child("sendToGenerate"))
            const form = JSON.parse(launcher.formJson)
            compare(form.prompt, "masterpiece, a red fox in snow")
            compare(form.seed, 3141592653)
            compare(form.sampler, "DPM++ 2M")
            compare(form.schedule_type, "Karras")
        }

        function test_files_without_parameters_are_explained() {
            page.open(Qt.resolvedUrl("data/plain.png"))
            compare(child("pngError").text, launcher.tr("pnginfo-none", launcher.locale))
            verify(!child("sendToGenerate").enabled)
            page.open(Qt.resolvedUrl("data/not-png.png"))
            verify(child("pngError").text.indexOf("不是可以读取的 PNG") >= 0, child("pngError").text)
            page.open(Qt.resolvedUrl("data/missing.png"))
            verify(child("pngError").text.indexOf("无法读取图片") >= 0, child("pngError").text)
        }
    }
}
