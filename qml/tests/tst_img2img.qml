import QtQuick
import QtTest
import RA

// img2img: load an image, paint, erase, clear and invert a mask, submit with strength.
Item {
    id: root
    width: 1100
    height: 720

    Launcher { id: launcher }
    Binding { target: Theme; property: "skinJson"; value: launcher.skinJson }
    Img2ImgPage { id: page; launcher: launcher; anchors.fill: parent }

    TestCase {
        name: "Img2img"
        when: windowShown

        function job() { return JSON.parse(launcher.jobJson) }
        function child(name) {
            const c = findChild(page, name)
            verify(c !== null, "no " + name)
            return c
        }
        function waitEnd() {
            tryVerify(function() { return ["done", "failed", "cancelled"].indexOf(job().phase) >= 0 },
                      20000, "the job did not end")
        }

        function initTestCase() {
            launcher.start()
            tryCompare(launcher, "daemonReady", true, 20000)
            launcher.setLanguage("zh-CN")
        }

        function test_a_loaded_image_takes_a_mask_with_brush_eraser_clear_and_invert() {
            page.load(Qt.resolvedUrl("data/input.png"))
            tryCompare(child("inputImage"), "status", Image.Ready, 5000)
            const mask = child("mask")
            tryVerify(function() { return mask.visible && mask.width > 10 }, 5000)
            verify(!mask.hasMask)
            mouseDrag(mask, 10, 10, 40, 30)
            verify(mask.hasMask)
            mouseClick(child("clearMask"))
            verify(!mask.hasMask)
            mouseClick(child("invertMask"))
            verify(mask.hasMask)
            mouseClick(child("eraser"))
            verify(mask.eraser)
            mouseClick(child("eraser"))
            verify(!mask.eraser)
            mouseClick(child("clearMask"))
        }

        function test_img2img_sends_the_image_and_strength() {
            page.load(Qt.resolvedUrl("data/input.png"))
            child("strength").value = 0.5
            findChild(page, "prompt").text = "a watercolour"
            page.generate()
            waitEnd()
            compare(job().phase, "done")
            tryVerify(function() { return job().infotexts.length > 0 }, 5000)
            verify(job().infotexts[0].indexOf("Denoising strength: 0.5") >= 0, job().infotexts[0])
        }

        function test_a_painted_mask_is_sent_for_inpainting() {
            page.load(Qt.resolvedUrl("data/input.png"))
            const mask = child("mask")
            tryVerify(function() { return mask.visible && mask.width > 10 }, 5000)
            mouseDrag(mask, 5, 5, 30, 30)
            findChild(page, "prompt").text = "a watercolour"
            page.generate()
            waitEnd()
            compare(job().phase, "done")
            tryVerify(function() { return job().infotexts.length > 0 }, 5000)
            verify(job().infotexts[0].indexOf("Mask blur: 4") >= 0, job().infotexts[0])
        }

        function test_an_unreadable_image_is_explained() {
            // Qt's image reader reports the file in the log; the page says it in words.
            ignoreWarning(new RegExp("Error decoding.*not-png.png"))
            page.load(Qt.resolvedUrl("data/not-png.png"))
            tryVerify(function() { return child("imageHint").text.indexOf("无法读取图片") >= 0 }, 5000)
            findChild(page, "prompt").text = "x"
            page.generate()
            waitEnd()
            verify(job().errorText.indexOf("无法读取图片") >= 0, job().errorText)
        }
    }
}
