// Small Qt calls that cxx-qt-lib does not wrap: the image clipboard, and the Qt Quick
// Test runner the QML tests use.
#pragma once

#include <QtCore/QString>
#include <cstdint>

namespace ra {
bool copyImageToClipboard(const QString& path);
std::int32_t runQmlTests(const QString& dir);
}
