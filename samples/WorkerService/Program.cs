// A P2PNet node as a Generic Host application, configured from appsettings.json:
//   dotnet run --project samples/WorkerService
// prints "LISTEN <multiaddr>/p2p/<id>" per address and "HEALTH <url>", and runs until Ctrl+C (SIGINT/SIGTERM).
// Any setting can be overridden on the command line, e.g. --P2PNet:ListenAddresses:0 /ip4/127.0.0.1/tcp/0 --Urls http://127.0.0.1:0
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;
using WorkerService;

var builder = WebApplication.CreateBuilder(new WebApplicationOptions
{
    Args = args,
    // appsettings.json and a relative IdentityKeyFile are found next to the program, wherever it is started from.
    ContentRootPath = AppContext.BaseDirectory,
});

builder.Services.AddP2PNet(builder.Configuration.GetSection("P2PNet"), o =>
{
    if (o.IdentityKeyFile is { Length: > 0 } file && !Path.IsPathRooted(file))
    {
        o.IdentityKeyFile = Path.Combine(builder.Environment.ContentRootPath, file);
    }
});
builder.Services.AddHealthChecks().AddP2PNet();
builder.Services.AddHostedService<StartupReport>();

var telemetry = builder.Services.AddOpenTelemetry();
if (builder.Configuration.GetValue("Telemetry:ConsoleTraces", true))
{
    telemetry.WithTracing(t => t.AddP2PNetInstrumentation().AddConsoleExporter());
}
if (builder.Configuration.GetValue("Telemetry:ConsoleMetrics", false))
{
    telemetry.WithMetrics(m => m.AddP2PNetInstrumentation().AddConsoleExporter());
}

var app = builder.Build();
app.MapHealthChecks("/health");
await app.RunAsync();
