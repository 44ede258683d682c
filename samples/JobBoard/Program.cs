// JobBoard: one board publishes job requests on a gossipsub topic; workers bid on another; the board collects the bids
// for a short window and awards each job to the lowest price within budget. Every node is a real P2PHost on loopback.
//   dotnet run --project samples/JobBoard -- [workers] [jobs]
using System.Collections.Concurrent;
using JobBoard;
using P2PNet.Host;
using P2PNet.Multiformats;
using P2PNet.Protocols.PubSub;

int workers = args.Length > 0 ? int.Parse(args[0], System.Globalization.CultureInfo.InvariantCulture) : 5;
int jobs = args.Length > 1 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 3;
const string JobsTopic = "jobboard/jobs";
const string BidsTopic = "jobboard/bids";
var options = new GossipSubOptions { HeartbeatInterval = TimeSpan.FromMilliseconds(200) };

var hosts = new List<P2PHost>();
var routers = new List<GossipSubRouter>();
var subscriptions = new List<PubSubSubscription>();
var loops = new List<Task>();
using var stop = new CancellationTokenSource();
try
{
    for (int i = 0; i <= workers; i++)
    {
        var hostOptions = new P2PHostOptions();
        hostOptions.ListenAddresses.Add(Multiaddr.Parse("/ip4/127.0.0.1/tcp/0"));
        var host = new P2PHost(hostOptions);
        await host.StartAsync();
        if (hosts.Count > 0)
        {
            await host.DialAsync(hosts[0].ListenAddresses[0].WithPeerId(hosts[0].PeerId)); // everyone knows the board
        }
        hosts.Add(host);
        var router = new GossipSubRouter(host, options);
        await router.StartAsync();
        routers.Add(router);
    }
    var board = routers[0];
    var bids = await board.SubscribeAsync(BidsTopic);
    subscriptions.Add(bids);
    var received = new ConcurrentDictionary<string, ConcurrentBag<Bid>>();
    loops.Add(Task.Run(async () =>
    {
        await foreach (var message in bids.WithCancellation(stop.Token))
        {
            var bid = message.GetPayload<Bid>();
            received.GetOrAdd(bid.JobId, _ => []).Add(bid);
            Console.WriteLine($"BID {bid.JobId} {bid.Bidder} {bid.Price}");
        }
    }));

    // Workers: bid on every job they can do within its budget; price is their own.
    for (int w = 1; w <= workers; w++)
    {
        var router = routers[w];
        string name = $"worker-{w}";
        uint rate = (uint)(40 + 13 * w % 50);
        var requests = await router.SubscribeAsync(JobsTopic);
        subscriptions.Add(requests);
        loops.Add(Task.Run(async () =>
        {
            await foreach (var message in requests.WithCancellation(stop.Token))
            {
                var job = message.GetPayload<JobRequest>();
                if (rate <= job.Budget)
                {
                    await router.PublishAsync(BidsTopic, new Bid { JobId = job.Id, Bidder = name, Price = rate });
                }
            }
        }));
    }

    // Wait for the meshes, then post the jobs and collect bids for a window each.
    var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
    while (routers.Skip(1).Any(r => r.GetMeshPeers(JobsTopic).Count == 0) && DateTime.UtcNow < deadline)
    {
        await Task.Delay(100);
    }
    for (int j = 1; j <= jobs; j++)
    {
        var job = new JobRequest { Id = $"job-{j}", Description = $"render batch {j}", Budget = (uint)(60 + 10 * j) };
        await board.PublishAsync(JobsTopic, job);
        Console.WriteLine($"JOB {job.Id} budget {job.Budget}");
    }
    await Task.Delay(TimeSpan.FromSeconds(2));
    for (int j = 1; j <= jobs; j++)
    {
        string id = $"job-{j}";
        var best = received.TryGetValue(id, out var all) ? all.OrderBy(b => b.Price).ThenBy(b => b.Bidder, StringComparer.Ordinal).FirstOrDefault() : null;
        Console.WriteLine(best is null ? $"AWARD {id} none" : $"AWARD {id} {best.Bidder} {best.Price} ({all!.Count} bids)");
    }
}
finally
{
    await stop.CancelAsync();
    foreach (var subscription in subscriptions)
    {
        await subscription.DisposeAsync();
    }
    await Task.WhenAll(loops.Select(l => l.ContinueWith(_ => { }, TaskScheduler.Default)));
    foreach (var router in routers)
    {
        await router.DisposeAsync();
    }
    foreach (var host in hosts)
    {
        await host.DisposeAsync();
    }
}
