import QtQuick
import QtTest
import RA

// The skin reaches every view through the Theme singleton, live.
TestCase {
    name: "Theme"

    function test_skin_json_drives_the_theme() {
        Theme.skinJson = '{"palette":{"window":"#010203","surface":"#ffffff","text":"#123456","muted":"#000000","accent":"#000000","accentText":"#000000","border":"#000000","danger":"#000000"},"fonts":{"family":"Noto Sans CJK SC","size":15},"radii":{"small":2,"large":8},"background":null}'
        compare(String(Theme.text), "#123456")
        compare(Theme.fontSize, 15)
        compare(Theme.radiusLarge, 8)
        compare(Theme.background, "")
    }
}
