// An ordinary shared library: the plugin loader must refuse it with a clear message.
extern "C" int not_a_plugin_answer() { return 42; }
