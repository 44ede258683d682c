namespace P2PNet.Hosting;

/// <summary>
/// Collects option failures as messages that name the configuration key (<c>P2PNet:Yamux:MaxWindowSize</c>), for the
/// <c>IValidateOptions</c> implementations of every P2PNet package.
/// </summary>
public sealed class OptionsCheck
{
    private readonly List<string> _failures = [];

    /// <summary>Starts a check of the options bound at <paramref name="prefix"/> (a configuration section path or the
    /// options type's name).</summary>
    public OptionsCheck(string prefix)
    {
        ArgumentException.ThrowIfNullOrEmpty(prefix);
        Prefix = prefix;
    }

    /// <summary>The key prefix every failure starts with.</summary>
    public string Prefix { get; }

    /// <summary>The failures so far, each starting with its full key.</summary>
    public IReadOnlyList<string> Failures => _failures;

    /// <summary>The full key of <paramref name="key"/> (<c>Prefix:key</c>).</summary>
    public string Key(string key) => Prefix + ":" + key;

    /// <summary>Records <paramref name="message"/> against <paramref name="key"/> when <paramref name="ok"/> is false.</summary>
    public OptionsCheck That(bool ok, string key, string message)
    {
        if (!ok)
        {
            _failures.Add($"{Key(key)}: {message}");
        }
        return this;
    }

    /// <summary>Records a failure unless <paramref name="value"/> is greater than zero.</summary>
    public OptionsCheck Positive(TimeSpan value, string key) => That(value > TimeSpan.Zero, key, $"must be greater than zero (was {value}).");

    /// <summary>Records a failure if <paramref name="value"/> is negative.</summary>
    public OptionsCheck NotNegative(TimeSpan value, string key) => That(value >= TimeSpan.Zero, key, $"must not be negative (was {value}).");

    /// <summary>Records a failure unless <paramref name="value"/> is within [<paramref name="min"/>, <paramref name="max"/>].</summary>
    public OptionsCheck InRange(long value, long min, long max, string key) =>
        That(value >= min && value <= max, key, max == long.MaxValue
            ? $"must be at least {min} (was {value})."
            : $"must be between {min} and {max} (was {value}).");

    /// <summary>Runs an existing <c>Validate()</c> that throws <see cref="ArgumentException"/> naming the property, and
    /// records its message against <c>section:ParamName</c>.</summary>
    public OptionsCheck Throwing(string section, Action validate)
    {
        ArgumentNullException.ThrowIfNull(validate);
        try
        {
            validate();
        }
        catch (ArgumentException e)
        {
            string key = string.IsNullOrEmpty(section) ? e.ParamName ?? "" : e.ParamName is null ? section : section + ":" + e.ParamName;
            string message = e.ParamName is null ? e.Message : e.Message.Replace($" (Parameter '{e.ParamName}')", "", StringComparison.Ordinal);
            _failures.Add($"{(key.Length == 0 ? Prefix : Key(key))}: {message}");
        }
        return this;
    }

    /// <summary>
    /// Checks each element of the list at <paramref name="key"/> in the raw <paramref name="configuration"/> with
    /// <paramref name="parse"/>: the configuration binder drops a list element it cannot convert without a word, so
    /// only the raw text shows it. Does nothing without a configuration (options set in code).
    /// </summary>
    /// <param name="configuration">The section the options were bound from, or <see langword="null"/>.</param>
    /// <param name="key">The list's key below the section (<c>ListenAddresses</c>).</param>
    /// <param name="what">What an element must be, for the message (<c>a multiaddr</c>).</param>
    /// <param name="parse">Parses one element, throwing <see cref="FormatException"/> (or <see cref="WireFormatException"/>).</param>
    public OptionsCheck EachParses(Microsoft.Extensions.Configuration.IConfiguration? configuration, string key, string what, Action<string> parse)
    {
        ArgumentNullException.ThrowIfNull(parse);
        if (configuration is null)
        {
            return this;
        }
        foreach (var item in configuration.GetSection(key).GetChildren())
        {
            try
            {
                parse(item.Value ?? "");
            }
            catch (FormatException e)
            {
                _failures.Add($"{Key(key + ":" + item.Key)}: '{item.Value}' is not {what}: {e.Message}");
            }
        }
        return this;
    }

    /// <summary>The result for <c>IValidateOptions.Validate</c>.</summary>
    public Microsoft.Extensions.Options.ValidateOptionsResult Result() =>
        _failures.Count == 0 ? Microsoft.Extensions.Options.ValidateOptionsResult.Success
            : Microsoft.Extensions.Options.ValidateOptionsResult.Fail(_failures);
}
