import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import RA

// The model library: filters, a grid of cards with previews, and the selected model's
// details with rating, note, open folder and delete. Listing scans the model folders
// (new or changed files are hashed once).
Item {
    id: root
    required property Launcher launcher
    readonly property var listing: JSON.parse(launcher.libraryJson)
    readonly property var models: listing.models
    property real selectedId: -1
    readonly property var current: {
        const found = models.find(m => m.id === selectedId)
        return found !== undefined ? found : (models.length > 0 ? models[0] : null)
    }
    readonly property var kinds: ["", "checkpoint", "lora", "vae", "embedding", "upscaler", "controlnet", "depth"]
    readonly property var tiers: ["", "official", "recommended", "community"]
    readonly property var sorts: ["name", "date", "size", "rating"]

    function t(id) { return launcher.tr(id, launcher.locale) }
    function ta(id, args) { return launcher.tra(id, JSON.stringify(args), launcher.locale) }

    function filter() {
        return {
            text: search.text,
            kind: kinds[kindBox.currentIndex],
            category: categoryBox.currentIndex > 0 ? listing.categories[categoryBox.currentIndex - 1] : "",
            tier: tiers[tierBox.currentIndex],
            min_rating: ratingBox.currentIndex,
            sort: sorts[sortBox.currentIndex]
        }
    }
    function refresh() { launcher.refreshLibrary(JSON.stringify(filter())) }

    ColumnLayout {
        anchors.fill: parent
        anchors.margins: 12
        spacing: 8

        RowLayout {
            Layout.fillWidth: true
            TextField {
                id: search
                objectName: "modelSearch"
                Layout.fillWidth: true
                placeholderText: root.t("models-search")
                onAccepted: root.refresh()
            }
            ComboBox {
                id: kindBox
                objectName: "kindFilter"
                model: root.kinds.map(k => k === "" ? root.t("models-kind-all") : root.ta("model-kind", {kind: k}))
                onActivated: root.refresh()
            }
            ComboBox {
                id: categoryBox
                model: [root.t("models-category-all")].concat(root.listing.categories)
                onActivated: root.refresh()
            }
            ComboBox {
                id: tierBox
                model: root.tiers.map(k => k === "" ? root.t("models-tier-all") : root.ta("model-tier", {tier: k}))
                onActivated: root.refresh()
            }
            ComboBox {
                id: ratingBox
                model: [root.t("models-rating-any")].concat([1, 2, 3, 4, 5].map(n => root.ta("models-rating-min", {stars: n})))
                onActivated: root.refresh()
            }
            ComboBox {
                id: sortBox
                objectName: "sortBox"
                model: root.sorts.map(s => root.ta("models-sort", {sort: s}))
                onActivated: root.refresh()
            }
            Button {
                text: root.t("refresh")
                onClicked: root.refresh()
            }
        }

        Label {
            Layout.fillWidth: true
            visible: root.listing.skipped.length > 0
            text: root.ta("models-skipped", {count: root.listing.skipped.length, files: root.listing.skipped.join("; ")})
            color: Theme.danger
            elide: Text.ElideRight
        }

        RowLayout {
            Layout.fillWidth: true
            Layout.fillHeight: true
            spacing: 12

            Card {
                Layout.fillWidth: true
                Layout.fillHeight: true
                GridView {
                    objectName: "modelGrid"
                    anchors.fill: parent
                    anchors.margins: 8
                    clip: true
                    cellWidth: 172
                    cellHeight: 212
                    model: root.models
                    delegate: Rectangle {
                        id: tile
                        required property var modelData
                        width: 164
                        height: 204
                        radius: Theme.radiusSmall
                        color: Theme.window
                        border.width: root.current && modelData.id === root.current.id ? 3 : 1
                        border.color: root.current && modelData.id === root.current.id ? Theme.accent : Theme.border
                        ColumnLayout {
                            anchors.fill: parent
                            anchors.margins: 6
                            spacing: 2
                            Rectangle {
                                Layout.fillWidth: true
                                Layout.preferredHeight: 124
                                radius: Theme.radiusSmall
                                color: Theme.surface
                                Image {
                                    anchors.fill: parent
                                    fillMode: Image.PreserveAspectCrop
                                    asynchronous: true
                                    sourceSize: Qt.size(256, 256)
                                    source: tile.modelData.preview
                                    visible: tile.modelData.preview.length > 0
                                }
                                Label {
                                    anchors.centerIn: parent
                                    visible: tile.modelData.preview.length === 0
                                    text: root.ta("model-kind", {kind: tile.modelData.kind})
                                    color: Theme.muted
                                }
                            }
                            Label {
                                Layout.fillWidth: true
                                text: tile.modelData.name
                                font.bold: true
                                elide: Text.ElideRight
                                color: Theme.text
                            }
                            Label {
                                Layout.fillWidth: true
                                text: root.ta("model-kind", {kind: tile.modelData.kind}) + " · " + tile.modelData.architecture
                                elide: Text.ElideRight
                                color: Theme.muted
                            }
                            Label {
                                text: "★".repeat(tile.modelData.rating) + "☆".repeat(5 - tile.modelData.rating)
                                color: Theme.accent
                            }
                        }
                        MouseArea { anchors.fill: parent; onClicked: root.selectedId = tile.modelData.id }
                    }
                }
                Label {
                    anchors.centerIn: parent
                    width: parent.width - 40
                    horizontalAlignment: Text.AlignHCenter
                    wrapMode: Text.Wrap
                    visible: root.models.length === 0
                    text: root.t("models-empty")
                    color: Theme.muted
                }
            }

            Card {
                Layout.preferredWidth: 380
                Layout.fillHeight: true
                Label {
                    anchors.centerIn: parent
                    visible: root.current === null
                    text: root.t("models-detail-empty")
                    color: Theme.muted
                }
                ScrollView {
                    anchors.fill: parent
                    anchors.margins: 10
                    visible: root.current !== null
                    contentWidth: availableWidth
                    ColumnLayout {
                        width: parent.width
                        spacing: 6
                        Label {
                            objectName: "modelName"
                            Layout.fillWidth: true
                            text: root.current ? root.current.name : ""
                            font.bold: true
                            font.pixelSize: Theme.fontSize * 1.2
                            wrapMode: Text.Wrap
                            color: Theme.text
                        }
                        GridLayout {
                            Layout.fillWidth: true
                            columns: 2
                            columnSpacing: 8
                            Repeater {
                                model: root.current ? [
                                    [root.t("models-file"), root.current.file],
                                    [root.t("models-architecture"), root.ta("model-kind", {kind: root.current.kind}) + " · " + root.current.architecture],
                                    [root.t("models-size"), root.launcher.sizeText(root.current.size)],
                                    [root.t("models-categories"), root.current.categories.join(", ")],
                                    [root.t("models-trigger-words"), root.current.trigger_words.join(", ")],
                                    [root.t("models-packs"), root.current.packs.join(", ") + (root.current.tier ? " (" + root.ta("model-tier", {tier: root.current.tier}) + ")" : "")],
                                    [root.t("models-license"), root.current.license],
                                    [root.t("models-source"), root.current.source_url],
                                    [root.t("models-hashes"), root.current.sha256.slice(0, 16) + "… / " + root.current.autov2],
                                ].filter(row => row[1].length > 0) : []
                                delegate: RowLayout {
                                    required property var modelData
                                    Layout.columnSpan: 2
                                    Layout.fillWidth: true
                                    Label { text: modelData[0]; color: Theme.muted; Layout.preferredWidth: 110 }
                                    Label { text: modelData[1]; color: Theme.text; Layout.fillWidth: true; wrapMode: Text.WrapAnywhere }
                                }
                            }
                        }
                        Label {
                            visible: root.current !== null && root.current.metadata.length > 0
                            text: root.t("models-metadata")
                            color: Theme.muted
                        }
                        Label {
                            Layout.fillWidth: true
                            visible: root.current !== null && root.current.metadata.length > 0
                            text: root.current ? root.current.metadata.slice(0, 8).join("\n") : ""
                            wrapMode: Text.WrapAnywhere
                            color: Theme.text
                        }
                        Label { text: root.t("models-rating"); color: Theme.muted }
                        Row {
                            objectName: "ratingStars"
                            Repeater {
                                model: 5
                                ToolButton {
                                    required property int index
                                    text: root.current && index < root.current.rating ? "★" : "☆"
                                    font.pixelSize: Theme.fontSize * 1.4
                                    // Clicking the current rating clears it.
                                    onClicked: root.launcher.rateModel(root.current.id,
                                        root.current.rating === index + 1 ? 0 : index + 1)
                                }
                            }
                        }
                        Label { text: root.t("models-note"); color: Theme.muted }
                        TextField {
                            id: note
                            Layout.fillWidth: true
                            text: root.current ? root.current.note : ""
                        }
                        RowLayout {
                            Button {
                                text: root.t("models-note-save")
                                onClicked: root.launcher.setModelNote(root.current.id, note.text)
                            }
                            Button {
                                text: root.t("open-folder")
                                onClicked: Qt.openUrlExternally(root.launcher.folderUrl(root.current.path))
                            }
                            Button {
                                objectName: "deleteModel"
                                text: root.t("delete")
                                onClicked: {
                                    confirm.modelId = root.current.id
                                    confirm.name = root.current.name
                                    confirm.open()
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    Dialog {
        id: confirm
        anchors.centerIn: parent
        width: 440
        modal: true
        title: root.t("models-delete-title")
        standardButtons: Dialog.Ok | Dialog.Cancel
        property real modelId: -1
        property string name: ""
        contentItem: Label {
            text: root.ta("models-delete-confirm", {name: confirm.name})
            wrapMode: Text.Wrap
        }
        onAccepted: root.launcher.deleteModel(modelId)
    }
}
