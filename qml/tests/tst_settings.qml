import QtQuick
import QtTest
import RA

// Settings: language and skin apply live; remote access needs a token; saving persists.
Item {
    id: root
    width: 1100
    height: 720

    Launcher { id: launcher }
    Binding { target: Theme; property: "skinJson"; value: launcher.skinJson }
    SettingsPage { id: page; launcher: launcher; anchors.fill: parent }

    TestCase {
        name: "Settings"
        when: windowShown

        function child(name) {
            const c = findChild(page, name)
            verify(c !== null, "no " + name)
            return c
        }

        function initTestCase() {
            launcher.start()
            tryCompare(launcher, "daemonReady", true, 20000)
        }
        function init() { launcher.setLanguage("zh-CN") }

        function test_language_and_skin_switch_live_and_persist() {
            const box = child("languageBox")
            box.currentIndex = 1
            box.activated(1)
            compare(launcher.locale, "en-US")
            compare(JSON.parse(launcher.settingsJson).language, "en-US")
            compare(child("saveSettings").text, "Save")
            box.activated(0)
            compare(child("saveSettings").text, "保存")

            const light = String(Theme.window)
            const skins = child("skinBox")
            const dark = JSON.parse(launcher.choicesJson).skins.findIndex(s => s.id === "dark")
            skins.activated(dark)
            compare(launcher.skinId, "dark")
            verify(String(Theme.window) !== light)
            compare(JSON.parse(launcher.settingsJson).skin, "dark")
            skins.activated(JSON.parse(launcher.choicesJson).skins.findIndex(s => s.id === "light"))
            compare(String(Theme.window), light)
        }

        function test_remote_access_needs_a_token() {
            child("remoteAccess").checked = true
            child("apiToken").text = "short"
            mouseClick(child("saveSettings"))
            verify(child("settingsError").text.indexOf("12") >= 0, child("settingsError").text)
            compare(JSON.parse(launcher.settingsJson).remote_access, false)

            child("apiToken").text = "a-token-long-enough"
            mouseClick(child("saveSettings"))
            compare(child("settingsError").text, "")
            compare(JSON.parse(launcher.settingsJson).remote_access, true)
            compare(launcher.notice, launcher.tr("settings-saved", launcher.locale))
            // The daemon is restarted (adopted again here) and comes back.
            tryCompare(launcher, "daemonReady", true, 20000)

            child("remoteAccess").checked = false
            mouseClick(child("saveSettings"))
            compare(JSON.parse(launcher.settingsJson).remote_access, false)
        }

        function test_a_folder_without_models_is_refused() {
            const error = launcher.addModelFolder("file:///no/such/folder")
            verify(error.indexOf("/no/such/folder") >= 0, error)
            compare(JSON.parse(launcher.settingsJson).model_dirs.length, 0)
        }
    }
}
