using Microsoft.Extensions.Logging.Abstractions;
using P2PNet.Muxing;
using P2PNet.Muxing.Yamux;

namespace P2PNet.Core.Tests.Muxing;

public class YamuxOptionsTests
{
    public static TheoryData<string, Action<YamuxOptions>> OutOfRange => new()
    {
        { "initial window below the spec's 256 KiB", o => o.InitialWindowSize = 128 * 1024 },
        { "initial window above the maximum", o => o.InitialWindowSize = o.MaxWindowSize + 1 },
        { "no concurrent streams", o => o.MaxConcurrentStreams = 0 },
        { "no accept backlog", o => o.MaxUnacknowledgedInboundStreams = 0 },
        { "negative keep-alive interval", o => o.KeepAliveInterval = TimeSpan.FromSeconds(-1) },
        { "zero keep-alive timeout", o => o.KeepAliveTimeout = TimeSpan.Zero },
        { "tiny frames", o => o.MaxFrameWriteSize = 10 },
        { "zero write timeout", o => o.StreamWriteTimeout = TimeSpan.Zero },
    };

    [Fact]
    public void Defaults_MatchTheDocumentedValues()
    {
        var options = new YamuxOptions();

        Assert.Equal(256 * 1024, options.InitialWindowSize);
        Assert.Equal(16 * 1024 * 1024, options.MaxWindowSize);
        Assert.Equal(1024, options.MaxConcurrentStreams);
        Assert.Equal(256, options.MaxUnacknowledgedInboundStreams);
        Assert.Equal(256, options.MaxUnacknowledgedOutboundStreams);
        Assert.Equal(TimeSpan.FromSeconds(30), options.KeepAliveInterval);
        Assert.Null(options.StreamWriteTimeout);
        options.Validate();
    }

    [Theory]
    [MemberData(nameof(OutOfRange))]
    public void OutOfRangeOption_IsRejectedWhenTheSessionIsCreated(string what, Action<YamuxOptions> change)
    {
        _ = what; // names the case in the test output
        var options = new YamuxOptions();
        change(options);
        TransportPair transport = TestTransports.CreateInMemory();

        Assert.Throws<ArgumentOutOfRangeException>(() => new YamuxSession(transport.Dialer, true, options, NullLogger.Instance));
    }

    [Fact]
    public async Task ChangingOptionsAfterCreation_DoesNotAffectTheSession_AndCloseReleasesWaitingOpens()
    {
        var options = new YamuxOptions { KeepAliveInterval = TimeSpan.Zero, MaxUnacknowledgedOutboundStreams = 1 };
        TransportPair transport = TestTransports.CreateInMemory();
        await using var session = new YamuxSession(transport.Dialer, true, options, NullLogger.Instance);
        options.MaxUnacknowledgedOutboundStreams = 100;

        await session.OpenStreamAsync().AsTask().WaitAsync(YamuxTest.Timeout);
        Task<MuxedStream> second = session.OpenStreamAsync().AsTask();

        Assert.NotSame(second, await Task.WhenAny(second, Task.Delay(TimeSpan.FromMilliseconds(100))));

        // Closing the session releases the waiting open.
        await session.CloseAsync().AsTask().WaitAsync(YamuxTest.Timeout);
        await Assert.ThrowsAsync<MuxerClosedException>(() => second.WaitAsync(YamuxTest.Timeout));
    }
}
