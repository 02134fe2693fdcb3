import QtQuick
import QtTest
import RA

// First run: the folders found, what to do without a model, and it goes away for good.
Item {
    id: root
    width: 1100
    height: 720

    Launcher { id: launcher }
    Binding { target: Theme; property: "skinJson"; value: launcher.skinJson }
    Welcome { id: welcome; launcher: launcher; anchors.fill: parent }

    TestCase {
        name: "Welcome"
        when: windowShown

        function test_says_what_to_do_without_a_model_then_closes() {
            launcher.setLanguage("zh-CN")
            launcher.start()
            const folders = JSON.parse(launcher.foldersJson)
            compare(folders[0].kind, "ra")
            compare(folders[0].checkpoints, 0)
            const none = findChild(welcome, "welcomeNoModel")
            verify(none.visible)
            verify(none.text.indexOf(folders[0].path + "/Stable-diffusion") >= 0, none.text)
            mouseClick(findChild(welcome, "welcomeStart"))
            compare(launcher.showWelcome, false)
            compare(JSON.parse(launcher.settingsJson).welcomed, true)
        }
    }
}
