import QtQuick
import QtQuick.Controls
import QtQuick.Dialogs
import QtQuick.Layouts
import RA

// Model packs: open a manifest from an address or a file to see what it holds, what it
// would download and whether the disk has room; install it (progress on the Downloads
// page); remove installed packs.
Item {
    id: root
    required property Launcher launcher
    readonly property var packs: JSON.parse(launcher.packsJson)
    signal installing()

    function t(id) { return launcher.tr(id, launcher.locale) }
    function ta(id, args) { return launcher.tra(id, JSON.stringify(args), launcher.locale) }
    function named(map, fallback) { return map[launcher.locale] || map["zh-CN"] || map["en-US"] || fallback }

    ColumnLayout {
        anchors.fill: parent
        anchors.margins: 12
        spacing: 8

        RowLayout {
            Layout.fillWidth: true
            TextField {
                id: source
                objectName: "packSource"
                Layout.fillWidth: true
                placeholderText: root.t("packs-source-placeholder")
                onAccepted: root.launcher.addPackSource(text)
            }
            Button {
                objectName: "showPack"
                text: root.t("packs-show")
                onClicked: root.launcher.addPackSource(source.text)
            }
            Button {
                text: root.t("packs-open-file")
                onClicked: fileDialog.open()
            }
            Button {
                text: root.t("refresh")
                onClicked: root.launcher.refreshPacks()
            }
        }

        RowLayout {
            Layout.fillWidth: true
            Layout.fillHeight: true
            spacing: 12

            Card {
                Layout.fillWidth: true
                Layout.fillHeight: true
                ColumnLayout {
                    anchors.fill: parent
                    anchors.margins: 10
                    Label {
                        text: root.t("packs-available-title")
                        font.bold: true
                        color: Theme.text
                    }
                    Label {
                        Layout.fillWidth: true
                        visible: root.packs.available.length === 0
                        text: root.t("packs-none-available")
                        wrapMode: Text.Wrap
                        color: Theme.muted
                    }
                    ListView {
                        objectName: "availablePacks"
                        Layout.fillWidth: true
                        Layout.fillHeight: true
                        clip: true
                        spacing: 10
                        model: root.packs.available
                        delegate: Rectangle {
                            id: card
                            required property var modelData
                            width: ListView.view.width
                            height: body.implicitHeight + 20
                            radius: Theme.radiusSmall
                            color: Theme.window
                            border.color: Theme.border
                            ColumnLayout {
                                id: body
                                anchors.fill: parent
                                anchors.margins: 10
                                spacing: 4
                                Label {
                                    visible: card.modelData.error !== undefined
                                    Layout.fillWidth: true
                                    text: card.modelData.error || ""
                                    wrapMode: Text.Wrap
                                    color: Theme.danger
                                }
                                RowLayout {
                                    visible: card.modelData.error === undefined
                                    Layout.fillWidth: true
                                    Label {
                                        Layout.fillWidth: true
                                        text: root.named(card.modelData.name || {}, card.modelData.id)
                                              + "  ·  " + root.ta("packs-version", {version: card.modelData.version})
                                        font.bold: true
                                        elide: Text.ElideRight
                                        color: Theme.text
                                    }
                                    Label {
                                        visible: card.modelData.installed === card.modelData.version
                                        text: root.t("packs-installed-badge")
                                        color: Theme.accent
                                    }
                                    Button {
                                        objectName: "installPack"
                                        visible: card.modelData.installed !== card.modelData.version
                                        enabled: card.modelData.fits || card.modelData.download === 0
                                        highlighted: true
                                        text: card.modelData.installed
                                              ? root.ta("packs-update", {version: card.modelData.version})
                                              : root.t("packs-install")
                                        onClicked: {
                                            root.launcher.installPack(card.modelData.source)
                                            root.installing()
                                        }
                                    }
                                }
                                Label {
                                    visible: card.modelData.error === undefined
                                    Layout.fillWidth: true
                                    text: root.named(card.modelData.description || {}, "")
                                    wrapMode: Text.Wrap
                                    color: Theme.muted
                                }
                                Label {
                                    visible: card.modelData.error === undefined
                                    Layout.fillWidth: true
                                    wrapMode: Text.Wrap
                                    color: card.modelData.fits || card.modelData.download === 0 ? Theme.text : Theme.danger
                                    text: card.modelData.error !== undefined ? "" :
                                          card.modelData.download === 0 ? root.t("packs-plan-done") :
                                          root.ta("packs-plan", {download: root.launcher.sizeText(card.modelData.download),
                                                                 free: root.launcher.sizeText(card.modelData.free)})
                                          + (card.modelData.fits ? "" : "  " + root.t("packs-no-space"))
                                }
                                Repeater {
                                    model: card.modelData.models || []
                                    Label {
                                        required property var modelData
                                        Layout.fillWidth: true
                                        elide: Text.ElideRight
                                        color: Theme.text
                                        text: "· " + modelData.name + "  —  " + root.ta("model-kind", {kind: modelData.kind})
                                              + ", " + root.ta("model-tier", {tier: modelData.tier})
                                              + (modelData.categories.length ? ", " + modelData.categories.join(" / ") : "")
                                              + ", " + (modelData.present ? root.t("packs-present") : root.launcher.sizeText(modelData.size))
                                    }
                                }
                                Label {
                                    Layout.fillWidth: true
                                    text: card.modelData.source
                                    elide: Text.ElideMiddle
                                    color: Theme.muted
                                }
                            }
                        }
                    }
                }
            }

            Card {
                Layout.preferredWidth: 340
                Layout.fillHeight: true
                ColumnLayout {
                    anchors.fill: parent
                    anchors.margins: 10
                    Label {
                        text: root.t("packs-installed-title")
                        font.bold: true
                        color: Theme.text
                    }
                    Label {
                        visible: root.packs.installed.length === 0
                        text: root.t("packs-none-installed")
                        color: Theme.muted
                    }
                    Label {
                        Layout.fillWidth: true
                        visible: !!root.packs.error
                        text: root.packs.error || ""
                        wrapMode: Text.Wrap
                        color: Theme.danger
                    }
                    ListView {
                        objectName: "installedPacks"
                        Layout.fillWidth: true
                        Layout.fillHeight: true
                        clip: true
                        spacing: 6
                        model: root.packs.installed
                        delegate: RowLayout {
                            required property var modelData
                            width: ListView.view.width
                            Label {
                                Layout.fillWidth: true
                                text: root.named(modelData.name, modelData.id) + "  " + modelData.version
                                      + "\n" + root.ta("packs-models", {count: modelData.models})
                                color: Theme.text
                                elide: Text.ElideRight
                            }
                            Button {
                                text: root.t("packs-remove")
                                onClicked: {
                                    confirm.packId = parent.modelData.id
                                    confirm.open()
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    FileDialog {
        id: fileDialog
        nameFilters: [root.t("packs-manifest-files") + " (*.toml)"]
        onAccepted: root.launcher.addPackSource(String(selectedFile))
    }

    Dialog {
        id: confirm
        anchors.centerIn: parent
        width: 440
        modal: true
        title: root.t("packs-remove-title")
        standardButtons: Dialog.Ok | Dialog.Cancel
        property string packId: ""
        contentItem: Label {
            text: root.ta("packs-remove-confirm", {pack: confirm.packId})
            wrapMode: Text.Wrap
        }
        onAccepted: root.launcher.removePack(packId)
    }
}
