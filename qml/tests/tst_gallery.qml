import QtQuick
import QtTest
import RA

// The gallery: history newest first with infotext, reuse, delete.
Item {
    id: root
    width: 1100
    height: 720

    Launcher { id: launcher }
    Binding { target: Theme; property: "skinJson"; value: launcher.skinJson }
    GalleryPage { id: page; launcher: launcher; anchors.fill: parent }

    TestCase {
        name: "Gallery"
        when: windowShown

        function job() { return JSON.parse(launcher.jobJson) }
        function items() { return JSON.parse(launcher.galleryJson) }
        function child(name) {
            const c = findChild(page, name)
            verify(c !== null, "no " + name)
            return c
        }
        function make(prompt) {
            launcher.generate(JSON.stringify({prompt: prompt, steps: 2, width: 64, height: 64}))
            tryVerify(function() { return job().phase === "done" }, 20000)
            const path = job().outputs[0]
            tryVerify(function() { return items().length > 0 && items()[0].path === path }, 10000)
        }

        function initTestCase() {
            launcher.start()
            tryCompare(launcher, "daemonReady", true, 20000)
            launcher.setLanguage("zh-CN")
        }

        function test_newest_first_with_infotext_reuse_and_delete() {
            make("first picture")
            make("second picture")
            const before = items().length
            compare(child("galleryGrid").count, before)
            verify(items()[0].infotext.startsWith("second picture"))
            page.selected = 0
            verify(child("galleryInfotext").text.startsWith("second picture"))
            tryCompare(child("galleryImage"), "status", Image.Ready, 5000)

            mouseClick(child("reuseButton"))
            compare(JSON.parse(launcher.formJson).prompt, "second picture")

            mouseClick(child("deleteButton"))
            const dialog = child("confirmDelete")
            tryCompare(dialog, "opened", true, 5000)
            dialog.accept()
            tryVerify(function() { return items().length === before - 1 }, 10000)
            verify(items()[0].infotext.startsWith("first picture"))
        }

        function test_open_folder_points_at_the_images_folder() {
            const path = items()[0].path
            const url = launcher.folderUrl(path)
            verify(url.startsWith("file:///"))
            verify(path.startsWith(url.substring(7)))
        }
    }
}
