package buildset

import (
	"context"

	"github.com/shadowreg/shadowreg/storage"
)

// Collect runs one garbage collection: expired buildsets go whole, then
// whatever storage.Collect finds unreferenced. A dry run deletes nothing and
// reports what a real run would free.
func (m *Manager) Collect(ctx context.Context, o storage.CollectOptions) (rep *storage.CollectReport, err error) {
	if m.opts.Collected != nil && !o.DryRun {
		defer func() { m.opts.Collected(rep, err) }()
	}
	return m.collect(ctx, o)
}

func (m *Manager) collect(ctx context.Context, o storage.CollectOptions) (*storage.CollectReport, error) {
	expired, err := m.ExpiredIDs(ctx)
	if err != nil {
		return nil, err
	}
	for _, id := range expired {
		o.DropAreas = append(o.DropAreas, Area(id))
	}
	rep, err := m.store.Collect(ctx, o)
	if err != nil {
		return nil, err
	}
	if !o.DryRun {
		if err := m.DeleteMetadata(ctx, expired); err != nil {
			return nil, err
		}
		for _, id := range expired {
			m.log.Info("buildset expired and deleted", "buildset", id)
		}
	}
	return rep, nil
}
