import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import RA

// Every pack install's files: progress, speed, time left, and pause / resume / cancel
// per file. Files are verified (sha256) before they join the library.
Item {
    id: root
    required property Launcher launcher
    readonly property var board: launcher.downloadsJson.length > 0 ? JSON.parse(launcher.downloadsJson)
                                                                   : {tasks: [], done: 0, total: 0, bytes_per_sec: 0, eta: null, active: 0}

    function t(id) { return launcher.tr(id, launcher.locale) }
    function ta(id, args) { return launcher.tra(id, JSON.stringify(args), launcher.locale) }
    function eta(seconds) {
        return seconds === null || seconds === undefined ? "" : root.ta("downloads-eta", {minutes: Math.floor(seconds / 60)})
    }

    ColumnLayout {
        anchors.fill: parent
        anchors.margins: 12
        spacing: 8

        RowLayout {
            Layout.fillWidth: true
            visible: root.board.tasks.length > 0
            ProgressBar {
                Layout.fillWidth: true
                from: 0
                to: Math.max(1, root.board.total)
                value: root.board.done
            }
            Label {
                objectName: "downloadsTotal"
                text: root.ta("downloads-total", {done: root.launcher.sizeText(root.board.done),
                                                  total: root.launcher.sizeText(root.board.total),
                                                  speed: root.launcher.sizeText(root.board.bytes_per_sec)})
                      + (root.board.eta !== null ? " · " + root.eta(root.board.eta) : "")
                color: Theme.text
            }
            Button {
                text: root.t("downloads-clear")
                onClicked: root.launcher.clearDownloads()
            }
        }

        Card {
            Layout.fillWidth: true
            Layout.fillHeight: true
            Label {
                anchors.centerIn: parent
                visible: root.board.tasks.length === 0
                text: root.t("downloads-empty")
                color: Theme.muted
            }
            ListView {
                objectName: "downloadTasks"
                anchors.fill: parent
                anchors.margins: 10
                clip: true
                spacing: 12
                model: root.board.tasks
                delegate: ColumnLayout {
                    id: task
                    required property var modelData
                    width: ListView.view.width
                    spacing: 4
                    Label {
                        text: task.modelData.name[root.launcher.locale] || task.modelData.name["zh-CN"]
                              || task.modelData.name["en-US"] || task.modelData.pack
                        font.bold: true
                        color: Theme.text
                    }
                    Label {
                        Layout.fillWidth: true
                        visible: task.modelData.errorText.length > 0
                        text: task.modelData.errorText
                        wrapMode: Text.Wrap
                        color: Theme.danger
                    }
                    Repeater {
                        model: task.modelData.files
                        RowLayout {
                            id: row
                            required property var modelData
                            Layout.fillWidth: true
                            Label {
                                Layout.preferredWidth: 240
                                text: row.modelData.file
                                elide: Text.ElideMiddle
                                color: Theme.text
                            }
                            ProgressBar {
                                Layout.fillWidth: true
                                from: 0
                                to: Math.max(1, row.modelData.total)
                                value: row.modelData.done
                            }
                            Label {
                                Layout.preferredWidth: 260
                                elide: Text.ElideRight
                                color: row.modelData.state === "failed" ? Theme.danger : Theme.muted
                                text: root.ta("download-state", {state: row.modelData.state}) + " · "
                                      + root.launcher.sizeText(row.modelData.done) + " / " + root.launcher.sizeText(row.modelData.total)
                                      + (row.modelData.state === "running" && row.modelData.eta !== null ? " · " + root.eta(row.modelData.eta) : "")
                            }
                            Button {
                                visible: row.modelData.state === "queued" || row.modelData.state === "running"
                                text: root.t("downloads-pause")
                                onClicked: root.launcher.controlDownload("pause", task.modelData.pack, row.modelData.file)
                            }
                            Button {
                                visible: row.modelData.state === "paused"
                                text: root.t("downloads-resume")
                                onClicked: root.launcher.controlDownload("resume", task.modelData.pack, row.modelData.file)
                            }
                            Button {
                                visible: (row.modelData.state === "failed" || row.modelData.state === "cancelled") && !task.modelData.running
                                text: root.t("downloads-retry")
                                onClicked: root.launcher.installPack(task.modelData.source)
                            }
                            Button {
                                visible: row.modelData.state !== "done" && row.modelData.state !== "cancelled"
                                text: root.t("downloads-cancel")
                                onClicked: root.launcher.controlDownload("cancel", task.modelData.pack, row.modelData.file)
                            }
                        }
                    }
                }
            }
        }
    }
}
