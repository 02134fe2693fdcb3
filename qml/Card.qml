import QtQuick

// A surface panel in the skin's colours.
Rectangle {
    color: Theme.surface
    border.color: Theme.border
    radius: Theme.radiusLarge
}
