// The `spinfer` subcommands; each returns the process exit code (or exits on error).
#pragma once

namespace spinfer_tool {

int generate_main(int argc, char** argv);  // cli_generate.cpp
int bench_main(int argc, char** argv);     // cli_bench.cpp

extern const char kGenerateUsage[];
extern const char kBenchUsage[];

}  // namespace spinfer_tool
