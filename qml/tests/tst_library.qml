import QtQuick
import QtTest
import RA

// The Models, Model packs and Updates pages: a model found on disk, rated and filtered;
// the refusals a user meets first, in Chinese.
Item {
    id: root
    width: 1100
    height: 720

    Launcher { id: launcher }
    Binding { target: Theme; property: "skinJson"; value: launcher.skinJson }
    ModelsPage { id: models; launcher: launcher; anchors.fill: parent }
    PacksPage { id: packs; launcher: launcher; anchors.fill: parent; visible: false }
    UpdatesPage { id: updates; launcher: launcher; anchors.fill: parent; visible: false }

    TestCase {
        name: "Library"
        when: windowShown

        function listed() { return JSON.parse(launcher.libraryJson).models }
        function child(page, name) {
            const c = findChild(page, name)
            verify(c !== null, "no " + name)
            return c
        }

        function initTestCase() {
            launcher.setLanguage("zh-CN")
            launcher.refreshLibrary("{}")
            tryVerify(function() { return listed().length === 1 }, 20000)
        }

        function test_a_model_on_disk_is_shown_rated_and_filtered() {
            compare(child(models, "modelGrid").count, 1)
            compare(child(models, "modelName").text, "inked")
            const stars = child(models, "ratingStars")
            mouseClick(stars.children[3])
            tryVerify(function() { return listed()[0].rating === 4 }, 10000)
            compare(stars.children[3].text, "★")
            compare(stars.children[4].text, "☆")
            launcher.refreshLibrary(JSON.stringify({min_rating: 5}))
            tryVerify(function() { return listed().length === 0 }, 10000)
            launcher.refreshLibrary(JSON.stringify({kind: "lora", min_rating: 4}))
            tryVerify(function() { return listed().length === 1 }, 10000)
        }

        function test_a_missing_pack_address_and_update_address_are_explained() {
            launcher.addPackSource("   ")
            tryCompare(launcher, "notice", "请输入模型包清单的网址或文件。", 10000)
            launcher.checkUpdates("")
            tryVerify(function() { return child(updates, "updateError").text.indexOf("请先填写更新地址") >= 0 }, 10000)
            compare(child(updates, "runningVersion").text.indexOf("RA "), 7)
        }
    }
}
