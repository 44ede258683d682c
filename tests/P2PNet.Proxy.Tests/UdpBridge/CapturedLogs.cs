using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace P2PNet.Proxy.Tests.UdpBridge;

/// <summary>Every formatted log line, kept for assertions.</summary>
internal sealed class CapturedLogs : ILoggerProvider
{
    private readonly ConcurrentQueue<string> _lines = new();

    public IReadOnlyCollection<string> Lines => [.. _lines];

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public async Task WaitForAsync(Func<string, bool> condition)
    {
        DateTime deadline = DateTime.UtcNow + BridgeClient.Timeout;
        while (!_lines.Any(condition))
        {
            Assert.True(DateTime.UtcNow < deadline, "The expected log line never came:\n" + string.Join('\n', _lines));
            await Task.Delay(10).WaitAsync(BridgeClient.Timeout);
        }
    }

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
