using System.Threading.Channels;
using OneDiff.Data.Images;

namespace OneDiff.Data;

/// <summary>A record with both images decoded and CLIP-preprocessed ((3, S, S) floats each).</summary>
public sealed record PreparedPair(DiffCapRecord Record, float[] Image1, float[] Image2);

/// <summary>
/// Decodes and preprocesses pairs ahead of the consumer on background workers (bounded), so a GPU
/// step never waits on JPEG decoding. Order is preserved. Bad images follow the report's mode:
/// an error naming the record and file, or a skip that is counted.
/// </summary>
public static class PairPreprocessor
{
    public static async IAsyncEnumerable<PreparedPair> Prepare(IEnumerable<DiffCapRecord> records, ClipImageProcessor processor,
        DataReport report, int ahead = 64, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancel = default)
    {
        var channel = Channel.CreateBounded<Task<PreparedPair?>>(new BoundedChannelOptions(Math.Max(1, ahead)) { SingleReader = true, SingleWriter = true });
        var producer = Task.Run(async () =>
        {
            try
            {
                foreach (var r in records)
                {
                    cancel.ThrowIfCancellationRequested();
                    await channel.Writer.WriteAsync(Task.Run(() => PrepareOne(r, processor, report), cancel), cancel);
                }
            }
            finally { channel.Writer.Complete(); }
        }, cancel);
        await foreach (var task in channel.Reader.ReadAllAsync(cancel))
        {
            var pair = await task;
            if (pair is not null) yield return pair;
        }
        await producer;
    }

    /// <summary>Synchronous enumeration of <see cref="Prepare"/>.</summary>
    public static IEnumerable<PreparedPair> PrepareAll(IEnumerable<DiffCapRecord> records, ClipImageProcessor processor, DataReport report, int ahead = 64)
    {
        var e = Prepare(records, processor, report, ahead).GetAsyncEnumerator();
        try
        {
            while (e.MoveNextAsync().AsTask().GetAwaiter().GetResult()) yield return e.Current;
        }
        finally { e.DisposeAsync().AsTask().GetAwaiter().GetResult(); }
    }

    public static PreparedPair? PrepareOne(DiffCapRecord r, ClipImageProcessor processor, DataReport report) =>
        PrepareOne(r, ImageInput.FromPath(r.Image1), ImageInput.FromPath(r.Image2), processor, report);

    /// <summary>Prepares a record whose images come as paths, bytes or pixels (an IDataView row).</summary>
    /// <param name="where">names the record in a problem; null: "id {record id}".</param>
    public static PreparedPair? PrepareOne(DiffCapRecord r, ImageInput image1, ImageInput image2, ClipImageProcessor processor, DataReport report, string? where = null)
    {
        where ??= $"id {r.Id}";
        // The same input on both sides (a single image shown as a pair) is decoded once.
        float[]? a = Load(where, image1, processor, report), b = a is null ? null : ReferenceEquals(image1, image2) ? a : Load(where, image2, processor, report);
        return a is null || b is null ? null : new PreparedPair(r, a, b);
    }

    static float[]? Load(string where, ImageInput image, ClipImageProcessor processor, DataReport report)
    {
        try { return processor.Process(image.Decode()); }
        catch (Exception e) when (e is InvalidDataException or FileNotFoundException or IOException)
        {
            report.Problem(where, image.Name, ImageCheck.Reason(e, image.Name));
            return null;
        }
    }

    /// <summary>Prepares rows ahead of the consumer (order kept, bounded).</summary>
    /// <param name="rows">each with how a problem names it ("row 5", "id 12").</param>
    public static IEnumerable<PreparedPair> PrepareAll(IEnumerable<(DiffCapRecord Record, ImageInput Image1, ImageInput Image2, string Where)> rows,
        ClipImageProcessor processor, DataReport report, int ahead = 64)
    {
        var queue = new Queue<Task<PreparedPair?>>();
        using var e = rows.GetEnumerator();
        bool more = true;
        while (true)
        {
            while (more && queue.Count < Math.Max(1, ahead))
            {
                more = e.MoveNext();
                if (!more) break;
                var row = e.Current;
                queue.Enqueue(Task.Run(() => PrepareOne(row.Record, row.Image1, row.Image2, processor, report, row.Where)));
            }
            if (queue.Count == 0) yield break;
            var pair = queue.Dequeue().GetAwaiter().GetResult();
            if (pair is not null) yield return pair;
        }
    }
}
