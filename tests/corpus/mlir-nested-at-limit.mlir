// EXPECT opt: exit 0
// EXPECT sim: exit 1: error: the module holds neither cisa.program ops nor a moe.layer to compile
// 64 levels (a string and a comment of brackets besides): at the limit, parsed
builtin.module attributes {x = "[[[[", y = [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]} { // [[[[[
}
