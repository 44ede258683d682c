using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace P2PNet.Bench.Bridge;

/// <summary>
/// A UDP echo server on 127.0.0.1 for the throughput run. On Linux it runs on its own thread and echoes in batches
/// (one blocking <c>recvmmsg</c> for whatever is queued, one <c>sendmmsg</c> back), so the load generator's share of the
/// two cores stays small next to the bridge it measures; elsewhere it is a plain async receive/send loop.
/// </summary>
internal sealed partial class UdpEcho : IAsyncDisposable
{
    private const int Batch = 64;
    private const int SlotSize = 2048;
    private const int MsgWaitForOne = 0x10000;

    private readonly Socket _socket = new(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;

    public UdpEcho()
    {
        _socket.ReceiveBufferSize = 4 * 1024 * 1024;
        _socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        EndPoint = (IPEndPoint)_socket.LocalEndPoint!;
        if (OperatingSystem.IsLinux() && Environment.Is64BitProcess)
        {
            // A receive timeout lets the blocking loop notice the stop request.
            _socket.ReceiveTimeout = 200;
            var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var thread = new Thread(() =>
            {
                try
                {
                    EchoBatches();
                    done.SetResult();
                }
                catch (Exception e)
                {
                    done.SetException(e);
                }
            })
            { IsBackground = true, Name = "udp echo" };
            thread.Start();
            _loop = done.Task;
        }
        else
        {
            _loop = Task.Run(EchoAsync);
        }
    }

    public IPEndPoint EndPoint { get; }

    private unsafe void EchoBatches()
    {
        byte[] buffer = GC.AllocateArray<byte>(Batch * SlotSize, pinned: true);
        byte[] names = GC.AllocateArray<byte>(Batch * 32, pinned: true);
        var messages = new MMsgHdr[Batch];
        var vectors = new IoVec[Batch];
        int fd = (int)_socket.SafeHandle.DangerousGetHandle();
        fixed (byte* data = buffer)
        fixed (byte* name = names)
        fixed (MMsgHdr* msgs = messages)
        fixed (IoVec* iov = vectors)
        {
            while (!_stop.IsCancellationRequested)
            {
                for (int i = 0; i < Batch; i++)
                {
                    iov[i] = new IoVec { Base = data + (i * SlotSize), Length = SlotSize };
                    msgs[i] = new MMsgHdr { Header = new MsgHdr { Name = name + (i * 32), NameLength = 32, Iov = iov + i, IovLength = 1 } };
                }

                int received = RecvMMsg(fd, msgs, Batch, MsgWaitForOne, null);
                if (received <= 0)
                {
                    continue; // timeout (EAGAIN) or interrupted: check for stop, then wait again
                }

                for (int i = 0; i < received; i++)
                {
                    iov[i].Length = msgs[i].Length;
                }

                for (int sent = 0; sent < received;)
                {
                    int n = SendMMsg(fd, msgs + sent, (uint)(received - sent), 0);
                    if (n <= 0)
                    {
                        break; // a refused send: drop the rest of this batch, as a lossy path would
                    }

                    sent += n;
                }
            }
        }
    }

    private async Task EchoAsync()
    {
        var buffer = new byte[2048];
        var from = new SocketAddress(AddressFamily.InterNetwork);
        try
        {
            while (true)
            {
                int n = await _socket.ReceiveFromAsync(buffer, SocketFlags.None, from, _stop.Token);
                await _socket.SendToAsync(buffer.AsMemory(0, n), SocketFlags.None, from, _stop.Token);
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        await _loop;
        _socket.Dispose();
        _stop.Dispose();
    }

    [StructLayout(LayoutKind.Sequential)]
    private unsafe struct IoVec
    {
        public byte* Base;
        public nuint Length;
    }

    [StructLayout(LayoutKind.Sequential)]
    private unsafe struct MsgHdr
    {
        public byte* Name;
        public uint NameLength;
        public IoVec* Iov;
        public nuint IovLength;
        public byte* Control;
        public nuint ControlLength;
        public int Flags;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct MMsgHdr
    {
        public MsgHdr Header;
        public uint Length;
    }

    [LibraryImport("libc", EntryPoint = "recvmmsg", SetLastError = true)]
    private static unsafe partial int RecvMMsg(int fd, MMsgHdr* messages, uint count, int flags, void* timeout);

    [LibraryImport("libc", EntryPoint = "sendmmsg", SetLastError = true)]
    private static unsafe partial int SendMMsg(int fd, MMsgHdr* messages, uint count, int flags);
}
