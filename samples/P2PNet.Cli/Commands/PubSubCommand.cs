using System.CommandLine;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using P2PNet.Protocols.PubSub;

namespace P2PNet.Cli.Commands;

/// <summary>
/// <c>p2pnet pubsub --key K --listen MA [--bootstrap MA]… --topic T [--publish TEXT [--every 1s]]</c>: a gossipsub node
/// that prints <c>LISTEN &lt;multiaddr&gt;/p2p/&lt;id&gt;</c> per address, <c>SUBSCRIBED &lt;topic&gt;</c>, then
/// <c>MESSAGE &lt;topic&gt; &lt;from peer id&gt; &lt;text&gt;</c> per message; runs until SIGINT/SIGTERM.
/// </summary>
internal static class PubSubCommand
{
    public static Command Create()
    {
        var command = new Command("pubsub", "Run a gossipsub (/meshsub/1.1.0) node on one topic. Prints 'LISTEN <multiaddr>' per address, 'SUBSCRIBED <topic>', then 'MESSAGE <topic> <from peer id> <text>' per message received; with --publish, publishes TEXT (once, or every --every). Runs until SIGINT/SIGTERM.");
        var key = new Option<string?>("--key") { Description = "Identity key file (created when missing; default: a new key each run)." };
        var listen = new Option<string[]>("--listen") { Description = "Multiaddr to listen on (repeatable). Default /ip4/127.0.0.1/tcp/0." };
        var bootstrap = new Option<string[]>("--bootstrap") { Description = "Peer multiaddr ending in /p2p/<id> (repeatable): dialed at start and re-dialed while disconnected." };
        var topic = new Option<string>("--topic") { Description = "The topic to subscribe (and publish) to.", Required = true };
        var publish = new Option<string?>("--publish") { Description = "Text to publish on the topic once subscribed peers are connected." };
        var every = new Option<string?>("--every") { Description = "Publish --publish repeatedly at this interval (e.g. 1s, 500ms)." };
        var verbose = new Option<bool>("--verbose", "-v") { Description = "Log debug details to stderr." };
        foreach (var option in new Option[] { key, listen, bootstrap, topic, publish, every, verbose })
        {
            command.Options.Add(option);
        }
        command.SetAction((parse, ct) => CliSupport.RunAsync(async () =>
        {
            string topicName = parse.GetValue(topic)!;
            string? text = parse.GetValue(publish);
            TimeSpan? interval = parse.GetValue(every) is { } e ? ParseInterval(e) : null;
            if (interval is not null && text is null)
            {
                throw new ArgumentException("--every needs --publish.");
            }
            var addresses = (parse.GetValue(listen) is { Length: > 0 } given ? given : ["/ip4/127.0.0.1/tcp/0"]).Select(CliSupport.ParseAddress).ToArray();
            var bootstrapPeers = (parse.GetValue(bootstrap) ?? []).Select(CliSupport.ParseAddress).ToArray();
            if (bootstrapPeers.FirstOrDefault(a => a.GetPeerId() is null) is { } noId)
            {
                throw new ArgumentException($"--bootstrap {noId} must end in /p2p/<peer id>.");
            }
            using var identity = CliSupport.LoadOrCreateKey(parse.GetValue(key));
            using var logging = CliSupport.CreateLoggerFactory(parse.GetValue(verbose));
            await using var host = CliSupport.CreateHost(identity, logging, o =>
            {
                foreach (var peer in bootstrapPeers)
                {
                    o.BootstrapPeers.Add(peer);
                }
            });
            await using var router = new GossipSubRouter(host, logger: Microsoft.Extensions.Logging.LoggerFactoryExtensions.CreateLogger<GossipSubRouter>(logging));
            await router.StartAsync(ct);
            var shutdown = CliSupport.WaitForShutdownAsync(ct);
            foreach (var address in addresses)
            {
                foreach (var bound in await host.ListenAsync(address, ct))
                {
                    string full = CliSupport.DialableAddress(host, bound);
                    Write($"LISTEN {full}", new PubSubLine("listen") { Address = full });
                }
            }
            await using var subscription = await router.SubscribeAsync(topicName, ct);
            Write($"SUBSCRIBED {topicName}", new PubSubLine("subscribed") { Topic = topicName });
            await host.StartAsync(ct); // bootstrap dials
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
            var printer = PrintAsync(subscription, stop.Token);
            var publisher = text is null ? Task.CompletedTask : PublishAsync(router, System.TimeProvider.System, topicName, text, interval, stop.Token);
            await shutdown;
            await stop.CancelAsync();
            await Task.WhenAll(printer, publisher);
            return 0;
        }));
        return command;
    }

    private static async Task PrintAsync(PubSubSubscription subscription, CancellationToken cancellationToken)
    {
        try
        {
            await foreach (var message in subscription.WithCancellation(cancellationToken))
            {
                string from = message.From?.ToString() ?? message.ReceivedFrom.ToString();
                string body = Encoding.UTF8.GetString(message.Data.Span).ReplaceLineEndings(" ");
                Write($"MESSAGE {message.Topic} {from} {body}", new PubSubLine("message") { Topic = message.Topic, Peer = from, Text = body });
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
    }

    /// <summary>Publishes once a topic peer is known (gossip needs someone to send to), then every <paramref name="interval"/>.</summary>
    private static async Task PublishAsync(GossipSubRouter router, TimeProvider time, string topic, string text, TimeSpan? interval, CancellationToken cancellationToken)
    {
        try
        {
            using var poll = new PeriodicTimer(TimeSpan.FromMilliseconds(100), time);
            while (router.GetTopicPeers(topic).Count == 0 && await poll.WaitForNextTickAsync(cancellationToken))
            {
            }
            byte[] data = Encoding.UTF8.GetBytes(text);
            await router.PublishAsync(topic, data, cancellationToken);
            if (interval is { } period)
            {
                using var timer = new PeriodicTimer(period, time);
                while (await timer.WaitForNextTickAsync(cancellationToken))
                {
                    await router.PublishAsync(topic, data, cancellationToken);
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
    }

    private static TimeSpan ParseInterval(string text)
    {
        text = text.Trim();
        double value;
        if (text.EndsWith("ms", StringComparison.Ordinal) && double.TryParse(text[..^2], System.Globalization.CultureInfo.InvariantCulture, out value))
        {
            return Positive(TimeSpan.FromMilliseconds(value), text);
        }
        if (text.EndsWith('s') && double.TryParse(text[..^1], System.Globalization.CultureInfo.InvariantCulture, out value))
        {
            return Positive(TimeSpan.FromSeconds(value), text);
        }
        if (text.EndsWith('m') && double.TryParse(text[..^1], System.Globalization.CultureInfo.InvariantCulture, out value))
        {
            return Positive(TimeSpan.FromMinutes(value), text);
        }
        throw new ArgumentException($"--every {text}: give a duration such as 1s, 500ms or 2m.");
    }

    private static TimeSpan Positive(TimeSpan value, string text) =>
        value > TimeSpan.Zero ? value : throw new ArgumentException($"--every {text} must be positive.");

    private static void Write(string text, PubSubLine json)
    {
        Console.Out.WriteLine(CliSupport.JsonOutput ? JsonSerializer.Serialize(json, PubSubJsonContext.Default.PubSubLine) : text);
        Console.Out.Flush();
    }
}

/// <summary>With <c>--json</c>: one pubsub event per line.</summary>
internal sealed record PubSubLine([property: JsonPropertyName("type")] string Type)
{
    [JsonPropertyName("address")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Address { get; init; }

    [JsonPropertyName("topic")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Topic { get; init; }

    [JsonPropertyName("peer")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Peer { get; init; }

    [JsonPropertyName("text")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Text { get; init; }
}

[JsonSerializable(typeof(PubSubLine))]
internal sealed partial class PubSubJsonContext : JsonSerializerContext;
