using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using P2PNet.Testing;

namespace P2PNet.Proxy.Tests.UdpBridge;

/// <summary>Every formatted log line, kept for assertions.</summary>
internal sealed class CapturedLogs : ILoggerProvider
{
    private readonly ConcurrentQueue<string> _lines = new();

    public IReadOnlyCollection<string> Lines => [.. _lines];

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public Task WaitForAsync(Func<string, bool> condition) =>
        Conditions.WaitUntilAsync(() => _lines.Any(condition), BridgeClient.Timeout,
            () => "The expected log line never came:\n" + string.Join('\n', _lines));

    public void Dispose()
    {
    }

    private sealed class Logger(CapturedLogs owner, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            owner._lines.Enqueue($"{category}: {formatter(state, exception)}");
    }
}
