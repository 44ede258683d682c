using BenchmarkDotNet.Running;

// dotnet run -c Release --project bench/P2PNet.Benchmarks -- --filter '*'          (all)
// dotnet run -c Release --project bench/P2PNet.Benchmarks -- --filter '*XSalsa20*' (one class)
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
