using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Primitives;

namespace Harbor.Gc.DependencyInjection;

/// <summary>
/// Binds <see cref="HarborGcOptions"/> from configuration: every value as <see cref="ConfigurationBinder"/> binds it, except the
/// durations, which are read in <see cref="Duration"/>'s grammar (<c>2h30m</c>, <c>90s</c>, <c>7d</c>, <c>02:30:00</c>), as the
/// command line and the daemon configuration read them. A value that is not a duration is kept for
/// <see cref="HarborGcOptionsValidator"/> to list with its key.
/// </summary>
internal static class HarborGcOptionsBinding
{
    /// <summary>The <see cref="TimeSpan"/> options, by key under the section (the binder's <c>TimeSpan.Parse</c> would refuse <c>2h</c>).</summary>
    private static readonly (string Key, Action<HarborGcOptions, TimeSpan?> Set, bool Nullable)[] Durations =
    [
        ("Store:GracePeriod", (o, v) => o.Store.GracePeriod = v!.Value, false),
        ("Gc:TimeWindow", (o, v) => o.Gc.TimeWindow = v!.Value, false),
        ("Gc:MaxDuration", (o, v) => o.Gc.MaxDuration = v, true),
    ];

    /// <summary>Binds <paramref name="section"/> into <paramref name="options"/>.</summary>
    public static void Bind(IConfigurationSection section, HarborGcOptions options)
    {
        var hidden = new HashSet<string>(Durations.Select(d => ConfigurationPath.Combine(section.Path, d.Key)), StringComparer.OrdinalIgnoreCase);
        new Filtered(section, hidden, false).Bind(options);
        foreach (var (key, set, nullable) in Durations)
        {
            var text = section[key];
            if (string.IsNullOrEmpty(text))
            {
                if (text is not null && nullable)
                {
                    set(options, null);
                }
            }
            else if (Duration.TryParse(text, out var value))
            {
                set(options, value);
            }
            else
            {
                options.BindingProblems.Add($"{ConfigurationPath.Combine(section.Path, key)}: {Duration.Problem(text)}");
            }
        }
    }

    /// <summary>A view of a section without the keys in <paramref name="hidden"/> (each looks absent: no value, no children).</summary>
    private sealed class Filtered(IConfigurationSection inner, HashSet<string> hidden, bool isHidden) : IConfigurationSection
    {
        public string Key => inner.Key;

        public string Path => inner.Path;

        public string? Value
        {
            get => isHidden ? null : inner.Value;
            set => inner.Value = value;
        }

        public string? this[string key]
        {
            get => GetSection(key).Value;
            set => inner[key] = value;
        }

        public IConfigurationSection GetSection(string key) => Wrap(inner.GetSection(key));

        public IEnumerable<IConfigurationSection> GetChildren() => isHidden ? [] : inner.GetChildren().Select(Wrap);

        public IChangeToken GetReloadToken() => inner.GetReloadToken();

        private Filtered Wrap(IConfigurationSection child) => new(child, hidden, isHidden || hidden.Contains(child.Path));
    }
}
