import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import RA

ApplicationWindow {
    id: window
    width: 1100
    height: 720
    visible: true
    title: launcher.tr("app-title", launcher.locale)

    Launcher {
        id: launcher
        Component.onCompleted: launcher.start()
    }

    Binding { target: Theme; property: "skinJson"; value: launcher.skinJson }

    function t(id) { return launcher.tr(id, launcher.locale) }

    color: Theme.window
    font.family: Theme.fontFamily
    font.pixelSize: Theme.fontSize
    palette.window: Theme.window
    palette.base: Theme.surface
    palette.alternateBase: Theme.window
    palette.button: Theme.surface
    palette.text: Theme.text
    palette.windowText: Theme.text
    palette.buttonText: Theme.text
    palette.placeholderText: Theme.muted
    palette.highlight: Theme.accent
    palette.highlightedText: Theme.accentText
    palette.mid: Theme.border

    readonly property var pageIds: ["generate", "img2img", "gallery", "pnginfo", "models", "packs",
                                    "downloads", "updates", "settings"]
    readonly property var pageTitles: [t("nav-generate"), t("nav-img2img"), t("nav-gallery"),
                                       t("nav-pnginfo"), t("nav-models"), t("nav-packs"),
                                       t("nav-downloads"), t("nav-updates"), t("nav-settings")]
    function showPage(id) { tabs.currentIndex = pageIds.indexOf(id) }

    Rectangle {
        id: page
        anchors.fill: parent
        color: Theme.window

        Image {
            anchors.fill: parent
            fillMode: Image.PreserveAspectCrop
            source: Theme.background
            visible: Theme.background.length > 0
        }

        ColumnLayout {
            anchors.fill: parent
            spacing: 0

            Rectangle {
                Layout.fillWidth: true
                Layout.preferredHeight: 52
                color: Theme.surface
                border.color: Theme.border
                RowLayout {
                    anchors.fill: parent
                    anchors.leftMargin: 12
                    anchors.rightMargin: 12
                    Label {
                        text: window.t("app-title")
                        color: Theme.accent
                        font.bold: true
                        font.pixelSize: Theme.fontSize * 1.4
                    }
                    TabBar {
                        id: tabs
                        objectName: "tabs"
                        Layout.leftMargin: 16
                        // Takes what the title and the status leave, and scrolls when
                        // the pages' names need more.
                        Layout.fillWidth: true
                        Repeater {
                            model: window.pageIds
                            TabButton {
                                required property string modelData
                                required property int index
                                objectName: "tab-" + modelData
                                text: window.pageTitles[index]
                                width: implicitWidth
                            }
                        }
                    }
                    Label {
                        objectName: "daemonState"
                        text: launcher.daemonText
                        color: launcher.daemonReady ? Theme.muted : Theme.danger
                    }
                }
            }

            StackLayout {
                id: pages
                Layout.fillWidth: true
                Layout.fillHeight: true
                currentIndex: tabs.currentIndex
                GeneratePage { id: generatePage; objectName: "generatePage"; launcher: launcher }
                Img2ImgPage { id: img2imgPage; objectName: "img2imgPage"; launcher: launcher }
                GalleryPage {
                    id: galleryPage
                    objectName: "galleryPage"
                    launcher: launcher
                    onReused: tabs.currentIndex = 0
                }
                PngInfoPage {
                    id: pngInfoPage
                    objectName: "pngInfoPage"
                    launcher: launcher
                    onSent: tabs.currentIndex = 0
                }
                ModelsPage { id: modelsPage; objectName: "modelsPage"; launcher: launcher }
                PacksPage {
                    id: packsPage
                    objectName: "packsPage"
                    launcher: launcher
                    onInstalling: window.showPage("downloads")
                }
                DownloadsPage { id: downloadsPage; objectName: "downloadsPage"; launcher: launcher }
                UpdatesPage { id: updatesPage; objectName: "updatesPage"; launcher: launcher }
                SettingsPage { id: settingsPage; objectName: "settingsPage"; launcher: launcher }
            }

            Rectangle {
                Layout.fillWidth: true
                Layout.preferredHeight: 28
                color: Theme.surface
                border.color: Theme.border
                RowLayout {
                    anchors.fill: parent
                    anchors.leftMargin: 12
                    anchors.rightMargin: 12
                    Label {
                        objectName: "skinNotice"
                        visible: launcher.skinNotice.length > 0
                        text: launcher.skinNotice
                        color: Theme.danger
                    }
                    Label {
                        objectName: "notice"
                        Layout.fillWidth: true
                        elide: Text.ElideRight
                        text: launcher.notice
                        color: Theme.muted
                    }
                }
            }
        }

        Welcome {
            objectName: "welcome"
            anchors.fill: parent
            visible: launcher.showWelcome
            launcher: launcher
            onOpenSettings: window.showPage("settings")
        }
    }

    Connections {
        target: launcher
        function onImg2imgImageChanged() {
            if (launcher.img2imgImage.length > 0)
                tabs.currentIndex = 1
        }
    }

    // Screenshot mode (RA_SCREENSHOT_DIR): photograph the welcome, generate an image,
    // then photograph every page in each language and quit. Each step runs when the
    // previous one reports done; a grab finishes before anything changes.
    Timer {
        id: shooter
        property int stage: 0
        property bool busy: false
        property var plan: []
        interval: 200
        repeat: true
        running: launcher.screenshotDir.length > 0

        function photograph(name) {
            return function() {
                busy = true
                const file = launcher.screenshotDir + "/" + name + "-" + launcher.locale + ".png"
                page.grabToImage(function(result) {
                    result.saveToFile(file)
                    busy = false
                })
                return true
            }
        }
        function language(locale) { return function() { launcher.setLanguage(locale); return true } }
        function job() { return launcher.jobJson.length > 0 ? JSON.parse(launcher.jobJson) : {} }

        Component.onCompleted: {
            plan.push(function() {
                return launcher.daemonReady && JSON.parse(launcher.modelsJson).checkpoints.length > 0
            })
            for (const locale of ["zh-CN", "en-US"]) {
                plan.push(language(locale))
                plan.push(photograph("welcome"))
            }
            plan.push(function() { launcher.closeWelcome(); return true })
            plan.push(function() {
                generatePage.fill({prompt: "a lighthouse at dusk", negative_prompt: "blurry",
                                   sampler: "Euler a", schedule_type: "Automatic", steps: 4,
                                   cfg_scale: 7, seed: 42, width: 128, height: 128})
                generatePage.generate()
                return true
            })
            plan.push(function() {
                const j = job()
                if (j.phase === "failed")
                    console.error("screenshot generation failed: " + j.errorText)
                return j.phase === "done" && j.seeds.length > 0
            })
            plan.push(function() {
                const out = job().outputs[0]
                pngInfoPage.open(out)
                img2imgPage.load(out)
                launcher.refreshGallery()
                return true
            })
            plan.push(function() { return JSON.parse(launcher.galleryJson).length > 0 })
            // A pack the settings offer starts installing, so the Downloads page has
            // something to show.
            plan.push(function() {
                const packs = JSON.parse(launcher.packsJson).available.filter(p => p.id !== undefined)
                if (packs.length > 0)
                    launcher.installPack(packs[0].source)
                return true
            })
            for (const locale of ["zh-CN", "en-US"]) {
                plan.push(language(locale))
                for (let i = 0; i < window.pageIds.length; i++) {
                    const index = i
                    plan.push(function() { tabs.currentIndex = index; return true })
                    plan.push(function() { return true })  // one tick to lay out and load
                    plan.push(photograph(window.pageIds[i]))
                }
            }
            plan.push(function() { Qt.quit(); return false })
        }

        onTriggered: {
            if (busy || stage >= plan.length)
                return
            if (plan[stage]())
                stage += 1
        }
    }
}
