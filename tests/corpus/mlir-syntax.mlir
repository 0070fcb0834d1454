// EXPECT: exit 1: {file}:4:10
// ALSO: Operation moe.layr is not registered
// xDSL's parser locates its own errors
moe.layr @l
