pragma Singleton
import QtQuick

// The current skin, as the launcher reads it from skins/<id>/skin.toml. Main.qml binds
// skinJson to the launcher's; every view takes its colours, font and radii from here.
QtObject {
    property string skinJson: ""
    readonly property var skin: skinJson.length > 0 ? JSON.parse(skinJson) : null
    readonly property var palette: skin ? skin.palette : ({})

    readonly property color window: palette.window || "#ffffff"
    readonly property color surface: palette.surface || "#ffffff"
    readonly property color text: palette.text || "#000000"
    readonly property color muted: palette.muted || "#666666"
    readonly property color accent: palette.accent || "#2f6fde"
    readonly property color accentText: palette.accentText || "#ffffff"
    readonly property color border: palette.border || "#cccccc"
    readonly property color danger: palette.danger || "#c62828"
    readonly property string fontFamily: skin ? skin.fonts.family : "Noto Sans CJK SC"
    readonly property int fontSize: skin ? skin.fonts.size : 14
    readonly property int radiusSmall: skin ? skin.radii.small : 4
    readonly property int radiusLarge: skin ? skin.radii.large : 10
    readonly property string background: skin && skin.background ? skin.background : ""
}
