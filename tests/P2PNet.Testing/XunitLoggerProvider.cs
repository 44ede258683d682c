using Microsoft.Extensions.Logging;
using Xunit.Abstractions;

namespace P2PNet.Testing;

/// <summary>Sends logs to a test's output (shown when it fails).</summary>
public sealed class XunitLoggerProvider(ITestOutputHelper output, LogLevel minimum = LogLevel.Debug) : ILoggerProvider
{
    /// <summary>A logger factory writing to <paramref name="output"/>.</summary>
    public static ILoggerFactory CreateFactory(ITestOutputHelper output, LogLevel minimum = LogLevel.Debug) =>
        LoggerFactory.Create(b => b.AddProvider(new XunitLoggerProvider(output, minimum)).SetMinimumLevel(minimum));

    /// <inheritdoc />
    public ILogger CreateLogger(string categoryName) => new Logger(output, categoryName, minimum);

    /// <inheritdoc />
    public void Dispose()
    {
    }

    private sealed class Logger(ITestOutputHelper output, string category, LogLevel minimum) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= minimum;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (!IsEnabled(logLevel))
            {
                return;
            }
            string name = category[(category.LastIndexOf('.') + 1)..];
            try
            {
                output.WriteLine($"{DateTime.UtcNow:HH:mm:ss.fff} {logLevel,-11} {name}: {formatter(state, exception)}{(exception is null ? "" : " " + exception.GetType().Name + ": " + exception.Message)}");
            }
            catch (InvalidOperationException)
            {
                // the test already finished
            }
        }
    }
}
