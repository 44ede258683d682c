using System.Globalization;
using P2PNet.Testing.Soak;

// bench/soak.sh: a fault-injection soak of minutes, printing one figures table (docs/security.md keeps the latest run).
// Usage: P2PNet.Soak [--minutes M] [--hosts N] [--processes N] [--senders N] [--seed S]
var options = new SoakOptions { Log = Console.Error.WriteLine };
for (int i = 0; i < args.Length; i++)
{
    string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
    switch (args[i])
    {
        case "--minutes": options.Duration = TimeSpan.FromMinutes(double.Parse(Next(), CultureInfo.InvariantCulture)); break;
        case "--hosts": options.InProcessNodes = int.Parse(Next(), CultureInfo.InvariantCulture); break;
        case "--processes": options.ProcessNodes = int.Parse(Next(), CultureInfo.InvariantCulture); break;
        case "--senders": options.Senders = int.Parse(Next(), CultureInfo.InvariantCulture); break;
        case "--seed": options.Seed = int.Parse(Next(), CultureInfo.InvariantCulture); break;
        default:
            Console.Error.WriteLine($"error: unknown argument {args[i]}");
            return 2;
    }
}
var report = await SoakRun.RunAsync(options);
Console.WriteLine(report.ToTable());
return report.MessagesLost == 0 && report.MessagesCorrupted == 0 && report.Unrecovered.Count == 0 ? 0 : 1;
