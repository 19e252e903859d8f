// The `spinfer` subcommands; each returns the process exit code (or exits on error).
#pragma once

namespace spinfer_tool {

int generate_main(int argc, char** argv);  // cli_generate.cpp
int bench_main(int argc, char** argv);     // cli_bench.cpp
int convert_main(int argc, char** argv);   // cli_convert.cpp

extern const char kGenerateUsage[];
extern const char kBenchUsage[];
extern const char kConvertUsage[];

}  // namespace spinfer_tool
