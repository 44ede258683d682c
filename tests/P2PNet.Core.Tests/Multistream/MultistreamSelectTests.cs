using System.Buffers;
using System.IO.Pipelines;
using System.Text;
using P2PNet.Multistream;

namespace P2PNet.Core.Tests.Multistream;

public class MultistreamSelectTests
{
    private static readonly TimeSpan Timeout = TestPipes.Timeout;

    private static byte[] Encode(params string[] messages)
    {
        var writer = new ArrayBufferWriter<byte>();
        foreach (string message in messages)
        {
            MultistreamMessage.Write(writer, message);
        }
        return writer.WrittenSpan.ToArray();
    }

    private static async Task WriteRawAsync(PipeWriter writer, byte[] bytes) =>
        await writer.WriteAsync(bytes).AsTask().WaitAsync(Timeout);

    /// <summary>Reads exactly <paramref name="count"/> bytes.</summary>
    private static async Task<byte[]> ReadExactlyAsync(PipeReader reader, int count)
    {
        while (true)
        {
            ReadResult result = await reader.ReadAsync().AsTask().WaitAsync(Timeout);
            if (result.Buffer.Length >= count)
            {
                byte[] bytes = result.Buffer.Slice(0, count).ToArray();
                reader.AdvanceTo(result.Buffer.GetPosition(count));
                return bytes;
            }
            Assert.False(result.IsCompleted, $"The input ended after {result.Buffer.Length} of {count} bytes.");
            reader.AdvanceTo(result.Buffer.Start, result.Buffer.End);
        }
    }

    [Fact]
    public async Task Select_WhenFirstProtocolIsSupported_BothSidesAgreeOnIt()
    {
        var (dialer, listener) = TestPipes.CreatePair();
        var listening = MultistreamSelect.ListenAsync(listener, p => p is "/noise" or "/tls/1.0.0", CancellationToken.None).AsTask();
        string selected = await MultistreamSelect.SelectAsync(dialer, ["/noise", "/tls/1.0.0"], CancellationToken.None).AsTask().WaitAsync(Timeout);
        Assert.Equal("/noise", selected);
        Assert.Equal("/noise", await listening.WaitAsync(Timeout));
    }

    [Fact]
    public async Task Select_WhenFirstProtocolIsRefused_FallsBackToTheSecond()
    {
        var (dialer, listener) = TestPipes.CreatePair();
        var proposals = new List<string>();
        var listening = MultistreamSelect.ListenAsync(listener, p => { proposals.Add(p); return p == "/yamux/1.0.0"; }, CancellationToken.None).AsTask();
        string selected = await MultistreamSelect.SelectAsync(dialer, ["/mplex/6.7.0", "/yamux/1.0.0"], CancellationToken.None).AsTask().WaitAsync(Timeout);
        Assert.Equal("/yamux/1.0.0", selected);
        Assert.Equal("/yamux/1.0.0", await listening.WaitAsync(Timeout));
        Assert.Equal(["/mplex/6.7.0", "/yamux/1.0.0"], proposals);
    }

    [Fact]
    public async Task Select_WhenEveryProtocolIsRefused_ThrowsProtocolNotSupportedListingThem()
    {
        var (dialer, listener) = TestPipes.CreatePair();
        var listening = MultistreamSelect.ListenAsync(listener, _ => false, CancellationToken.None).AsTask();
        var error = await Assert.ThrowsAsync<ProtocolNotSupportedException>(
            () => MultistreamSelect.SelectAsync(dialer, ["/a/1", "/b/2"], CancellationToken.None).AsTask().WaitAsync(Timeout));
        Assert.Equal(["/a/1", "/b/2"], error.Protocols);
        Assert.Contains("/a/1", error.Message, StringComparison.Ordinal);
        Assert.Contains("/b/2", error.Message, StringComparison.Ordinal);
        Assert.IsAssignableFrom<IOException>(error);
        // The listener is left waiting for a proposal that never comes; closing the dialer ends it.
        await dialer.Output.CompleteAsync().AsTask().WaitAsync(Timeout);
        await Assert.ThrowsAsync<EndOfStreamException>(() => listening.WaitAsync(Timeout));
    }

    [Fact]
    public async Task Select_SendsHeaderAndFirstProposalInOneFlush()
    {
        var (dialer, listener) = TestPipes.CreatePair();
        var selecting = MultistreamSelect.SelectAsync(dialer, ["/noise"], CancellationToken.None).AsTask();
        ReadResult first = await listener.Input.ReadAsync().AsTask().WaitAsync(Timeout);
        Assert.Equal(Encode("/multistream/1.0.0", "/noise"), first.Buffer.ToArray());
        listener.Input.AdvanceTo(first.Buffer.End);
        await WriteRawAsync(listener.Output, Encode("/multistream/1.0.0", "/noise"));
        Assert.Equal("/noise", await selecting.WaitAsync(Timeout));
    }

    [Fact]
    public async Task Listen_LeavesBytesAfterTheSelectedProtocolUnreadForTheNextLayer()
    {
        var (dialer, listener) = TestPipes.CreatePair();
        byte[] next = "first bytes of the next protocol"u8.ToArray();
        // A pipelining dialer: header, proposal and the next protocol's first bytes in one write.
        await WriteRawAsync(dialer.Output, [.. Encode("/multistream/1.0.0", "/noise"), .. next]);
        Assert.Equal("/noise", await MultistreamSelect.ListenAsync(listener, p => p == "/noise", CancellationToken.None).AsTask().WaitAsync(Timeout));
        Assert.Equal(next, await ReadExactlyAsync(listener.Input, next.Length));
        byte[] answer = Encode("/multistream/1.0.0", "/noise");
        Assert.Equal(answer, await ReadExactlyAsync(dialer.Input, answer.Length));
    }

    [Fact]
    public async Task Select_LeavesBytesAfterTheEchoUnreadForTheNextLayer()
    {
        var (dialer, listener) = TestPipes.CreatePair();
        byte[] next = [0x00, 0x20, 0xFF, 0x0A, 0x13];
        await WriteRawAsync(listener.Output, [.. Encode("/multistream/1.0.0", "na", "/yamux/1.0.0"), .. next]);
        Assert.Equal("/yamux/1.0.0", await MultistreamSelect.SelectAsync(dialer, ["/mplex/6.7.0", "/yamux/1.0.0"], CancellationToken.None).AsTask().WaitAsync(Timeout));
        Assert.Equal(next, await ReadExactlyAsync(dialer.Input, next.Length));
    }

    [Fact]
    public async Task Listen_WithGarbageInsteadOfTheHeader_FailsAtOnce()
    {
        var (dialer, listener) = TestPipes.CreatePair();
        // An HTTP client on a libp2p port: 'G' would announce a 71-byte message; the header check fails without waiting for it.
        await WriteRawAsync(dialer.Output, "GET / HTTP/1.1\r\n"u8.ToArray());
        var error = await Assert.ThrowsAsync<ProtocolViolationException>(
            () => MultistreamSelect.ListenAsync(listener, _ => true, CancellationToken.None).AsTask().WaitAsync(TimeSpan.FromSeconds(5)));
        Assert.Contains("/multistream/1.0.0", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Select_WithADifferentMultistreamVersion_IsAProtocolViolation()
    {
        var (dialer, listener) = TestPipes.CreatePair();
        await WriteRawAsync(listener.Output, Encode("/multistream/2.0.0", "/noise"));
        var error = await Assert.ThrowsAsync<ProtocolViolationException>(
            () => MultistreamSelect.SelectAsync(dialer, ["/noise"], CancellationToken.None).AsTask().WaitAsync(TimeSpan.FromSeconds(5)));
        Assert.Contains("/multistream/2.0.0", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Select_WhenRemoteAnswersSomethingElse_IsAProtocolViolation()
    {
        var (dialer, listener) = TestPipes.CreatePair();
        await WriteRawAsync(listener.Output, Encode("/multistream/1.0.0", "/tls/1.0.0"));
        await Assert.ThrowsAsync<ProtocolViolationException>(
            () => MultistreamSelect.SelectAsync(dialer, ["/noise"], CancellationToken.None).AsTask().WaitAsync(Timeout));
    }

    [Fact]
    public async Task Select_WithOversizedAnswer_IsAWireFormatError()
    {
        var (dialer, listener) = TestPipes.CreatePair();
        await WriteRawAsync(listener.Output, [.. Encode("/multistream/1.0.0"), 0xFF, 0x7F]);
        await Assert.ThrowsAsync<WireFormatException>(
            () => MultistreamSelect.SelectAsync(dialer, ["/noise"], CancellationToken.None).AsTask().WaitAsync(Timeout));
    }

    [Fact]
    public async Task Listen_AnswersLsWithNa()
    {
        var (dialer, listener) = TestPipes.CreatePair();
        var listening = MultistreamSelect.ListenAsync(listener, _ => true, CancellationToken.None).AsTask();
        await WriteRawAsync(dialer.Output, Encode("/multistream/1.0.0", "ls", "/ping/1.0.0"));
        Assert.Equal("/ping/1.0.0", await listening.WaitAsync(Timeout));
        byte[] answers = Encode("/multistream/1.0.0", "na", "/ping/1.0.0");
        Assert.Equal(answers, await ReadExactlyAsync(dialer.Input, answers.Length));
    }

    [Fact]
    public async Task Listen_AfterTooManyRefusedProposals_GivesUp()
    {
        var (dialer, listener) = TestPipes.CreatePair();
        var proposals = Enumerable.Range(0, MultistreamSelect.MaxProposals + 1).Select(i => $"/unknown/{i}").ToArray();
        await WriteRawAsync(dialer.Output, Encode(["/multistream/1.0.0", .. proposals]));
        await Assert.ThrowsAsync<ProtocolViolationException>(
            () => MultistreamSelect.ListenAsync(listener, _ => false, CancellationToken.None).AsTask().WaitAsync(Timeout));
    }

    [Fact]
    public async Task Select_WhenRemoteClosesBeforeAnswering_ThrowsEndOfStream()
    {
        var (dialer, listener) = TestPipes.CreatePair();
        await WriteRawAsync(listener.Output, Encode("/multistream/1.0.0"));
        await listener.Output.CompleteAsync().AsTask().WaitAsync(Timeout);
        await Assert.ThrowsAsync<EndOfStreamException>(
            () => MultistreamSelect.SelectAsync(dialer, ["/noise"], CancellationToken.None).AsTask().WaitAsync(Timeout));
    }

    [Fact]
    public async Task Listen_WhenRemoteClosesInsideAMessage_IsAProtocolViolation()
    {
        var (dialer, listener) = TestPipes.CreatePair();
        await WriteRawAsync(dialer.Output, [.. Encode("/multistream/1.0.0"), 7, (byte)'/', (byte)'n']);
        await dialer.Output.CompleteAsync().AsTask().WaitAsync(Timeout);
        await Assert.ThrowsAsync<ProtocolViolationException>(
            () => MultistreamSelect.ListenAsync(listener, _ => true, CancellationToken.None).AsTask().WaitAsync(Timeout));
    }

    [Fact]
    public async Task Listen_WithStalledRemote_IsStoppedByTheToken()
    {
        var (_, listener) = TestPipes.CreatePair();
        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(200));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(
            () => MultistreamSelect.ListenAsync(listener, _ => true, cts.Token).AsTask().WaitAsync(Timeout));
    }

    [Fact]
    public async Task Select_WithInvalidProtocolIds_ThrowsArgumentExceptionBeforeSending()
    {
        var (dialer, _) = TestPipes.CreatePair();
        await Assert.ThrowsAsync<ArgumentException>(() => MultistreamSelect.SelectAsync(dialer, [], CancellationToken.None).AsTask().WaitAsync(Timeout));
        await Assert.ThrowsAsync<ArgumentException>(() => MultistreamSelect.SelectAsync(dialer, ["/ok", ""], CancellationToken.None).AsTask().WaitAsync(Timeout));
        await Assert.ThrowsAsync<ArgumentException>(() => MultistreamSelect.SelectAsync(dialer, ["/a\n/b"], CancellationToken.None).AsTask().WaitAsync(Timeout));
        await Assert.ThrowsAsync<ArgumentException>(() => MultistreamSelect.SelectAsync(dialer, [new string('x', 1024)], CancellationToken.None).AsTask().WaitAsync(Timeout));
    }

    [Fact]
    public async Task Negotiation_AcceptsProtocolIdsUpToTheMaximumLength()
    {
        var (dialer, listener) = TestPipes.CreatePair();
        string longest = "/" + new string('p', MultistreamMessage.MaxProtocolIdLength - 1);
        Assert.Equal(MultistreamMessage.MaxProtocolIdLength, Encoding.UTF8.GetByteCount(longest));
        var listening = MultistreamSelect.ListenAsync(listener, p => p == longest, CancellationToken.None).AsTask();
        Assert.Equal(longest, await MultistreamSelect.SelectAsync(dialer, [longest], CancellationToken.None).AsTask().WaitAsync(Timeout));
        Assert.Equal(longest, await listening.WaitAsync(Timeout));
    }
}
