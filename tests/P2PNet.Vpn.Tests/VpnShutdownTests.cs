using P2PNet.Muxing;

namespace P2PNet.Vpn.Tests;

public class VpnShutdownTests
{
    private const string ResettingProtocol = "/p2pnet-test/reset/1.0.0";

    [Fact]
    public async Task Dispose_WhenThePeerResetsTheDataStreamDuringShutdown_DoesNotThrow()
    {
        // Looped: each round the dialing side's data stream is reset by the (real) peer exactly while it shuts down.
        for (int round = 0; round < 5; round++)
        {
            await using var cluster = await VpnCluster.CreateAsync(2);
            int dialer = cluster.Hosts[0].PeerId.Bytes.SequenceCompareTo(cluster.Hosts[1].PeerId.Bytes) < 0 ? 0 : 1;
            int other = 1 - dialer;
            cluster.Hosts[other].SetStreamHandler(ResettingProtocol, (stream, _) =>
            {
                stream.Abort();
                return Task.CompletedTask;
            });
            var opening = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var sawReset = new TaskCompletionSource<Exception>(TaskCreationOptions.RunContinuationsAsynchronously);
            var dialingHost = cluster.Hosts[dialer];
            cluster.Vpns[dialer].OpenDataStream = async (peer, _, stopping) =>
            {
                opening.TrySetResult();
                // Hold the open until shutdown begins, then let the peer reset the stream under us.
                var stopped = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                await using (stopping.Register(() => stopped.TrySetResult()))
                {
                    await stopped.Task.WaitAsync(VpnCluster.Timeout, CancellationToken.None);
                }
                using var timeout = new CancellationTokenSource(VpnCluster.Timeout);
                try
                {
                    var stream = await dialingHost.OpenStreamAsync(peer, ResettingProtocol, timeout.Token);
                    while (!(await stream.Input.ReadAsync(timeout.Token)).IsCompleted)
                    {
                    }
                }
                catch (Exception e)
                {
                    sawReset.TrySetResult(e);
                    throw;
                }
                var ended = new InvalidOperationException("The peer ended the stream instead of resetting it.");
                sawReset.TrySetResult(ended);
                throw ended;
            };
            await cluster.StartAllAsync();
            await opening.Task.WaitAsync(VpnCluster.Timeout);

            await cluster.Vpns[dialer].DisposeAsync().AsTask().WaitAsync(VpnCluster.Timeout);

            var reset = Assert.IsType<StreamResetException>(await sawReset.Task.WaitAsync(VpnCluster.Timeout));
            Assert.True(reset.IsRemote);
        }
    }
}
