using System.Collections.Concurrent;
using System.Diagnostics;
using P2PNet.Diagnostics;
using P2PNet.Protocols.Ping;
using P2PNet.Testing;
using Xunit.Abstractions;

namespace P2PNet.Core.Tests.Diagnostics;

/// <summary>The <c>P2PNet</c> activity source's spans, recorded through a real <see cref="ActivityListener"/>.</summary>
public sealed class TracingTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Dial_RecordsDialHandshakeMuxerAndNegotiationSpans()
    {
        var stopped = new ConcurrentQueue<Activity>();
        using var testSource = new ActivitySource("P2PNet.Core.Tests.Tracing");
        using var listener = new ActivityListener
        {
            ShouldListenTo = s => s.Name == P2PNetTelemetry.ActivitySourceName || s == testSource,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = stopped.Enqueue,
        };
        ActivitySource.AddActivityListener(listener);
        await using var hosts = await TestHostGroup.StartAsync(2, null, XunitLoggerProvider.CreateFactory(output)).WaitAsync(Timeout);

        ActivityTraceId trace;
        using (var root = testSource.StartActivity("test-root"))
        {
            Assert.NotNull(root);
            trace = root.TraceId;
            var connection = await hosts[0].DialAsync(hosts[1].ListenAddresses[0]).AsTask().WaitAsync(Timeout);
            await using var stream = await connection.OpenStreamAsync([PingProtocol.Id]).AsTask().WaitAsync(Timeout);
        }

        // Other tests dial in parallel: only this trace's spans count.
        var spans = stopped.Where(a => a.TraceId == trace && a.Source.Name == P2PNetTelemetry.ActivitySourceName).ToList();
        var dial = Assert.Single(spans, a => a.OperationName == "p2pnet.dial");
        Assert.Equal(ActivityKind.Client, dial.Kind);
        Assert.Equal(hosts[1].PeerId.ToString(), dial.GetTagItem("p2pnet.peer.id"));
        Assert.NotEqual(ActivityStatusCode.Error, dial.Status);

        var handshake = Assert.Single(spans, a => a.OperationName == "p2pnet.security.handshake");
        Assert.Equal(dial.SpanId, handshake.ParentSpanId);
        Assert.Equal("/noise", handshake.GetTagItem("p2pnet.protocol"));
        Assert.Equal("outbound", handshake.GetTagItem("p2pnet.direction"));
        Assert.Equal(hosts[1].PeerId.ToString(), handshake.GetTagItem("p2pnet.peer.id"));

        var muxer = Assert.Single(spans, a => a.OperationName == "p2pnet.muxer.setup");
        Assert.Equal(dial.SpanId, muxer.ParentSpanId);
        Assert.Equal("/yamux/1.0.0", muxer.GetTagItem("p2pnet.protocol"));
        Assert.True(handshake.StartTimeUtc <= muxer.StartTimeUtc);

        Assert.Contains(spans, a => a.OperationName == "p2pnet.stream.negotiate" && Equals(a.GetTagItem("p2pnet.protocol"), PingProtocol.Id)
            && Equals(a.GetTagItem("p2pnet.direction"), "outbound"));
    }

    [Fact]
    public async Task Dial_ToTheWrongPeer_MarksTheSpansFailed()
    {
        var stopped = new ConcurrentQueue<Activity>();
        using var testSource = new ActivitySource("P2PNet.Core.Tests.Tracing");
        using var listener = new ActivityListener
        {
            ShouldListenTo = s => s.Name == P2PNetTelemetry.ActivitySourceName || s == testSource,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = stopped.Enqueue,
        };
        ActivitySource.AddActivityListener(listener);
        await using var hosts = await TestHostGroup.StartAsync(3, null, XunitLoggerProvider.CreateFactory(output)).WaitAsync(Timeout);

        ActivityTraceId trace;
        using (var root = testSource.StartActivity("test-root"))
        {
            Assert.NotNull(root);
            trace = root.TraceId;
            // host 1's address with host 2's id: Noise refuses the remote.
            var wrong = hosts[1].ListenAddresses[0].WithoutPeerId().WithPeerId(hosts[2].PeerId);
            await Assert.ThrowsAnyAsync<Exception>(() => hosts[0].DialAsync(wrong).AsTask().WaitAsync(Timeout));
        }

        var spans = stopped.Where(a => a.TraceId == trace && a.Source.Name == P2PNetTelemetry.ActivitySourceName).ToList();
        Assert.Equal(ActivityStatusCode.Error, Assert.Single(spans, a => a.OperationName == "p2pnet.dial").Status);
        Assert.Equal(ActivityStatusCode.Error, Assert.Single(spans, a => a.OperationName == "p2pnet.security.handshake").Status);
        Assert.DoesNotContain(spans, a => a.OperationName == "p2pnet.muxer.setup");
    }
}
