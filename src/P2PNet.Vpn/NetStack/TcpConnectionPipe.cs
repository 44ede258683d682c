using System.IO.Pipelines;

namespace P2PNet.Vpn.NetStack;

/// <summary>A <see cref="TcpConnection"/> as an <see cref="IDuplexPipe"/>: completing the output sends FIN, completing
/// the input only stops reading.</summary>
internal sealed class TcpConnectionPipe : IDuplexPipe
{
    public TcpConnectionPipe(TcpConnection connection)
    {
        Input = PipeReader.Create(new HalfStream(connection, isInput: true), new StreamPipeReaderOptions(leaveOpen: false));
        Output = PipeWriter.Create(new HalfStream(connection, isInput: false), new StreamPipeWriterOptions(leaveOpen: false));
    }

    public PipeReader Input { get; }

    public PipeWriter Output { get; }

    /// <summary>One direction of the connection; disposing the output half completes writes.</summary>
    private sealed class HalfStream(TcpConnection connection, bool isInput) : Stream
    {
        public override bool CanRead => isInput;

        public override bool CanSeek => false;

        public override bool CanWrite => !isInput;

        public override long Length => throw new NotSupportedException();

        public override long Position
        {
            get => throw new NotSupportedException();
            set => throw new NotSupportedException();
        }

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            connection.ReadAsync(buffer, cancellationToken);

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default) =>
            connection.WriteAsync(buffer, cancellationToken);

        public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public override void Flush()
        {
        }

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing && !isInput)
            {
                connection.CompleteWrites();
            }
            base.Dispose(disposing);
        }
    }
}
