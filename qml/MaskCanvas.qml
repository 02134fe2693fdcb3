import QtQuick

// The inpainting mask, painted over the input image: white repaints, transparent keeps.
// Strokes are queued and drawn in onPaint; the canvas shows half-transparent so the
// image stays visible, while toDataURL() gives the mask itself (a PNG with alpha).
Canvas {
    id: root
    property real brushSize: 32
    property bool eraser: false
    property bool hasMask: false
    property var pending: []
    property point last
    opacity: 0.6

    function queue(op) {
        pending.push(op)
        requestPaint()
    }
    function clear() {
        hasMask = false
        queue({kind: "clear"})
    }
    function invert() {
        hasMask = true
        queue({kind: "invert"})
    }
    /// Paints a stroke from (x1, y1) to (x2, y2) in canvas coordinates.
    function stroke(x1, y1, x2, y2) {
        if (!eraser)
            hasMask = true
        queue({kind: "line", x1: x1, y1: y1, x2: x2, y2: y2, erase: eraser, size: brushSize})
    }

    onAvailableChanged: clear()
    onWidthChanged: if (available) clear()
    onHeightChanged: if (available) clear()

    onPaint: {
        const ctx = getContext("2d")
        for (const op of pending) {
            ctx.globalCompositeOperation = "source-over"
            if (op.kind === "clear") {
                ctx.clearRect(0, 0, width, height)
            } else if (op.kind === "invert") {
                const img = ctx.getImageData(0, 0, width, height)
                const d = img.data
                for (let i = 0; i < d.length; i += 4) {
                    const painted = d[i + 3] > 127
                    d[i] = d[i + 1] = d[i + 2] = 255
                    d[i + 3] = painted ? 0 : 255
                }
                ctx.putImageData(img, 0, 0)
            } else {
                ctx.globalCompositeOperation = op.erase ? "destination-out" : "source-over"
                ctx.strokeStyle = "white"
                ctx.lineWidth = op.size
                ctx.lineCap = "round"
                ctx.beginPath()
                ctx.moveTo(op.x1, op.y1)
                ctx.lineTo(op.x2, op.y2)
                ctx.stroke()
            }
        }
        pending = []
    }

    MouseArea {
        anchors.fill: parent
        onPressed: function(mouse) {
            root.last = Qt.point(mouse.x, mouse.y)
            root.stroke(mouse.x, mouse.y, mouse.x, mouse.y)
        }
        onPositionChanged: function(mouse) {
            root.stroke(root.last.x, root.last.y, mouse.x, mouse.y)
            root.last = Qt.point(mouse.x, mouse.y)
        }
    }
}
