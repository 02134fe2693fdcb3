import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import RA

// One model folder as the welcome and Settings list it: kind, path, checkpoints.
Label {
    required property Launcher launcher
    required property var modelData
    Layout.fillWidth: true
    elide: Text.ElideMiddle
    color: Theme.text
    text: launcher.tra("folder-line", JSON.stringify({
        path: modelData.path, count: modelData.checkpoints, kind: modelData.kind}),
        launcher.locale)
}
