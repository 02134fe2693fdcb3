#include "ra_qt.h"

#include <QtCore/QByteArray>
#include <QtGui/QClipboard>
#include <QtGui/QGuiApplication>
#include <QtGui/QImage>
#include <QtQuickTest/quicktest.h>

namespace ra {

bool copyImageToClipboard(const QString& path)
{
    QImage image(path);
    if (image.isNull())
        return false;
    QGuiApplication::clipboard()->setImage(image);
    return true;
}

std::int32_t runQmlTests(const QString& dir)
{
    // quick_test_main parses Qt Test's own arguments; give it the test folder only.
    QByteArray program("ra-launcher");
    QByteArray input("-input");
    QByteArray folder = dir.toLocal8Bit();
    // Qt 6.4 does not search the resource tree for modules by itself (6.5 does).
    QByteArray import("-import");
    QByteArray resources("qrc:/qt/qml");
    char* argv[] = { program.data(), input.data(), folder.data(), import.data(),
                     resources.data(), nullptr };
    int argc = 5;
    return quick_test_main(argc, argv, "ra-launcher", nullptr);
}

}
