// EXPECT: exit 1: {file}:4:7: error: not UTF-8 text: byte 0xff (invalid start byte)
// the first bad byte's line and column
builtin.module {
// cafÿ
}
